"""Evaluation: metrics, the fine-tune x RAG grid, statistics, reports."""
