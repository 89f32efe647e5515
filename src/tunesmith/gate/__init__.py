"""Release gates: pass/fail checks before a model is promoted."""
