"""The Releases page: registered versions with their gate results and model cards, and promotion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunesmith.core.errors import ConfigError
from tunesmith.project import LoadedProject
from tunesmith.registry.tracking import STORE_FOLDER, Tracker


def _tracker(loaded: LoadedProject) -> Tracker | None:
    tracking = loaded.config.tracking
    if not tracking.enabled:
        return None
    if not tracking.uri and not (loaded.dir / STORE_FOLDER / "mlflow.db").is_file():
        return None  # nothing registered yet; do not create a store just to look
    return Tracker(tracking, loaded.dir, loaded.config.name)


def releases(loaded: LoadedProject) -> dict[str, Any]:
    tracker = _tracker(loaded)
    if tracker is None:
        return {
            "model": loaded.config.tracking.model_name or loaded.config.name,
            "tracking": loaded.config.tracking.enabled,
            "versions": [],
            "aliases": {},
        }
    try:
        versions = tracker.client.search_model_versions(f"name = '{tracker.model_name}'")
        aliases = {
            a: str(v) for a, v in (tracker.client.get_registered_model(tracker.model_name).aliases or {}).items()
        }
    except Exception:  # no version registered yet
        versions, aliases = [], {}
    rows = []
    for v in sorted(versions, key=lambda v: -int(v.version)):
        tags = dict(v.tags)
        gate_dir = tags.get("tunesmith.gate_run_dir")
        gate = None
        if gate_dir and (Path(gate_dir) / "gate.json").is_file():
            gate = json.loads((Path(gate_dir) / "gate.json").read_text(encoding="utf-8"))
        rows.append(
            {
                "version": str(v.version),
                "gate": tags.get("tunesmith.gate", "unknown"),
                "aliases": sorted(a for a, n in aliases.items() if n == str(v.version)),
                "created": v.creation_timestamp,
                "train_run": tags.get("tunesmith.train_run"),
                "eval_run": tags.get("tunesmith.eval_run"),
                "gate_run": tags.get("tunesmith.gate_run"),
                "dataset_version": tags.get("tunesmith.dataset_version"),
                "promotions": {
                    k.removeprefix("tunesmith.promoted."): val
                    for k, val in tags.items()
                    if k.startswith("tunesmith.promoted.")
                },
                "checks": [
                    {"name": c["name"], "rule": c.get("rule"), "passed": c["passed"], "reason": c.get("reason")}
                    for c in (gate or {}).get("checks", [])
                ],
                "card": v.description or "",
            }
        )
    return {"model": tracker.model_name, "tracking": True, "uri": tracker.uri, "versions": rows, "aliases": aliases}


def promote(loaded: LoadedProject, version: str, alias: str) -> dict[str, Any]:
    """Move ``alias`` to ``version``: the registry's own rule (only a passed gate) decides."""
    from tunesmith.registry.models import VersionRef
    from tunesmith.registry.models import promote as move

    tracker = _tracker(loaded)
    if tracker is None:
        raise ConfigError(
            "no model registry in this project yet",
            where="tracking",
            fix="Run the release gate first: it registers a version.",
        )
    return move(tracker, VersionRef(tracker.model_name, version=version), alias)


def lineage(loaded: LoadedProject, version: str) -> dict[str, Any]:
    """Where a version came from, as the `tunesmith lineage` tree: (depth, text) rows plus the chain itself."""
    from tunesmith.registry.lineage import lineage as chain_of
    from tunesmith.registry.lineage import lineage_lines
    from tunesmith.registry.models import VersionRef

    tracker = _tracker(loaded)
    if tracker is None:
        raise ConfigError("no model registry in this project yet", where="tracking")
    chain = chain_of(tracker, VersionRef(tracker.model_name, version=version), loaded.dir)
    return {"rows": [{"depth": d, "text": t} for d, t in lineage_lines(chain)], "missing": chain["missing_run_folders"]}
