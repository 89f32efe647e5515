"""The model registry: versions with their gate decision, and aliases that move only past a passed gate."""

from __future__ import annotations

import getpass
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tunesmith.core.errors import StageError
from tunesmith.registry.tracking import Tracker

GATE_TAG = "tunesmith.gate"
_REF = re.compile(r"^(?P<name>[^@:]+?)?(?:(?::|/)(?P<version>\d+)|@(?P<alias>[\w-]+))?$")


@dataclass
class VersionRef:
    name: str
    version: str | None = None
    alias: str | None = None


def parse_ref(text: str | None, default_name: str) -> VersionRef:
    """``NAME``, ``NAME:3``, ``NAME@production``, ``3`` or ``@production`` (the project's model)."""
    if not text:
        return VersionRef(default_name)
    if text.isdigit():
        return VersionRef(default_name, version=text)
    match = _REF.match(text)
    if match is None:
        raise StageError(
            f"'{text}' is not a model reference",
            fix="Write NAME, NAME:VERSION or NAME@ALIAS (e.g. support@production).",
        )
    return VersionRef(match["name"] or default_name, match["version"], match["alias"])


def register(
    tracker: Tracker,
    *,
    source: str,
    run_id: str | None,
    tags: dict[str, str],
    description: str | None = None,
) -> str:
    """A new version of the project's model; returns its number (its card, titled with it, is set after)."""
    client = tracker.client
    try:
        client.get_registered_model(tracker.model_name)
    except Exception:
        client.create_registered_model(tracker.model_name, description=description)
    version = client.create_model_version(tracker.model_name, source=source, run_id=run_id, tags=tags)
    return str(version.version)


def resolve(tracker: Tracker, ref: VersionRef) -> Any:
    """The model version a reference names (the newest when only a name is given)."""
    client = tracker.client
    try:
        if ref.alias:
            return client.get_model_version_by_alias(ref.name, ref.alias)
        if ref.version:
            return client.get_model_version(ref.name, ref.version)
        versions = client.search_model_versions(f"name = '{ref.name}'")
    except Exception as exc:
        raise StageError(
            f"no model version {_show(ref)} in the registry",
            where=tracker.uri,
            fix="`tunesmith registry list` shows the versions; `tunesmith gate` registers one.",
        ) from exc
    if not versions:
        raise StageError(
            f"model '{ref.name}' has no versions", where=tracker.uri, fix="Run `tunesmith gate` to register one."
        )
    return max(versions, key=lambda v: int(v.version))


def aliases_of(tracker: Tracker, name: str, version: str) -> list[str]:
    model = tracker.client.get_registered_model(name)
    return sorted(alias for alias, v in (model.aliases or {}).items() if str(v) == str(version))


def gate_on_disk(gate_dir: str | None) -> tuple[bool | None, str]:
    """The verdict in the gate run's own gate.json when the folder is here (tags can be edited in the UI)."""
    if not gate_dir:
        return None, "no gate run recorded"
    path = Path(gate_dir) / "gate.json"
    if not path.is_file():
        return None, "gate run folder not on this machine; going by the registry tag"
    gate = json.loads(path.read_text(encoding="utf-8"))
    failed = [c["name"] for c in gate["checks"] if not c["passed"]]
    return bool(gate["passed"]), ("failed: " + ", ".join(failed)) if failed else "all checks passed"


def promote(tracker: Tracker, ref: VersionRef, alias: str) -> dict[str, Any]:
    """Point ``alias`` at the version, only when its gate passed (by its tag and its gate.json); records who
    moved it and from where."""
    version = resolve(tracker, ref)
    gate_dir = version.tags.get("tunesmith.gate_run_dir")
    gate_passed, reason = gate_on_disk(gate_dir)
    if version.tags.get(GATE_TAG) != "passed" or gate_passed is False:
        raise StageError(
            f"version {version.version} of '{version.name}' did not pass its release gate ({reason})",
            where=gate_dir or tracker.uri,
            fix="Fix what failed (see gate.json), retrain or re-evaluate, run `tunesmith gate`, then promote the new version.",
        )
    client = tracker.client
    previous = None
    try:
        previous = str(client.get_model_version_by_alias(version.name, alias).version)
    except Exception:
        pass
    client.set_registered_model_alias(version.name, alias, version.version)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    who = _user()
    client.set_model_version_tag(version.name, version.version, f"tunesmith.promoted.{alias}", f"{now} by {who}")
    if previous and previous != str(version.version):
        client.set_model_version_tag(version.name, previous, f"tunesmith.demoted.{alias}", f"{now} by {who}")
    return {"model": version.name, "version": str(version.version), "alias": alias, "previous": previous, "at": now}


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def _show(ref: VersionRef) -> str:
    return f"{ref.name}@{ref.alias}" if ref.alias else f"{ref.name}:{ref.version}" if ref.version else ref.name
