"""tunesmith: turn a general LLM into a domain model that speaks one company's language."""

__version__ = "0.1.0"
