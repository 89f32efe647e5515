"""General-skills probe sets shipped with tunesmith (package data)."""
