"""The HTTP API: OpenAI-compatible routes serving base and fine-tuned models with retrieval."""
