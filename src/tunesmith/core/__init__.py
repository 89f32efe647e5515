"""The bottom layer: configs, the project file's loader, run folders, errors, lazy deps. No torch."""
