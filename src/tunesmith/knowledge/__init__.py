"""The knowledge base: ingest, chunk, embed, store, retrieve (hybrid)."""
