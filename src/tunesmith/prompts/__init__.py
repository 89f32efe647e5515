"""Prompt experiments over candidate models, and the baseline they pick."""
