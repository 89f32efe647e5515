"""Hyperparameter search from evaluation feedback."""
