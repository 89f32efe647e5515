"""Datasets: reading, validating, cleaning, splitting, and rendering them through chat templates."""
