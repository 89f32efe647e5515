"""Built-in metrics. Each registers through the `tunesmith.metrics` entry point, as a plugin would."""
