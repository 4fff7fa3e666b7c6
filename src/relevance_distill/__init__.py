"""relevance-distill: distil a reasoning LLM into a fast BERT relevance model (arXiv 2510.11056)."""

__version__ = "0.1.0"
