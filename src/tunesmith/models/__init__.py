"""Model sources behind one generation interface."""
