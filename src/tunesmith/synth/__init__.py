"""Training data from what the company already has: golden outputs joined to the knowledge base."""
