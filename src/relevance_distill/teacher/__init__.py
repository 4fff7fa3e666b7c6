"""Stage 1: the reasoning teacher (continued pre-training, reasoning SFT, reward model, DPO)."""
