"""Metrics by name, from the `tunesmith.metrics` entry-point group (plugins and built-ins alike).

Built-in metrics are registered in tunesmith's own pyproject exactly as a
plugin package would register its own, so there is one path for both. An entry
point that fails to import raises its real error here, where it is named.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from tunesmith.core.errors import ConfigError
from tunesmith.eval.metrics.base import Metric

GROUP = "tunesmith.metrics"


def available() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def get_metric(name: str) -> Metric:
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            factory = ep.load()
            metric: Metric = factory()
            return metric
    names = sorted(available())
    import difflib

    close = difflib.get_close_matches(name, names, n=1)
    hint = f"Did you mean '{close[0]}'? " if close else ""
    raise ConfigError(f"unknown metric '{name}'", where="eval.metrics", fix=f"{hint}Available: {', '.join(names)}.")
