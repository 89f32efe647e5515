"""The command line: thin commands over the Python API, one module per stage."""
