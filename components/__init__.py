"""Thin KFP v2 components, one per stage; each wraps a library function of relevance_distill."""
