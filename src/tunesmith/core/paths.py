"""Where tunesmith keeps things outside a project: the model cache."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$TUNESMITH_CACHE``, else ``$XDG_CACHE_HOME/tunesmith``, else ``~/.cache/tunesmith``."""
    explicit = os.environ.get("TUNESMITH_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "tunesmith"
