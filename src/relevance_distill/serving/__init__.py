"""KServe predictor for the student (see predictor.py); ``python -m relevance_distill.serving`` starts it."""
