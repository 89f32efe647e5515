"""Readers and writers for the formats users already have.

Record formats (one JSON object per line, or rows of a saved Hugging Face
dataset) register through the `tunesmith.formats` entry-point group, the same
way a plug-in adds one; table formats (CSV, Parquet) map columns to fields.
"""
