"""What settings a remote caller (the workbench's job forms, the fine-tuning API) may change.

The project file is the operator's: whatever paths and URLs it names are
trusted. A setting changed from a browser or an API call is not. Every path it
sets must resolve inside the project folder (relative, no `..`, no symlink
leading out), or `kb ingest` would index `/etc` and the Knowledge page show it;
settings that send data somewhere or run code (endpoint and database URLs,
names of environment variables holding keys, `trust_remote_code`) are locked
unless the operator lists them in `serve.workbench_settable`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from pydantic import BaseModel

from tunesmith.core.errors import ConfigError

# fields holding a file or folder the stage reads (`prompts` only where it is one path, not a list of prompts)
PATH_FIELDS = ("path", "paths", "prompts")
# a run id: what a job's inputs may name (never a path)
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")


def locked(name: str) -> bool:
    return name in ("url", "base_url", "trust_remote_code") or name.endswith(("_url", "_env"))


def inside(project_dir: Path, value: str) -> bool:
    """``value`` names something inside ``project_dir``: relative, without `..`, and not leading out through a
    symlink."""
    if not value or "\x00" in value:
        return False
    if PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute() or PureWindowsPath(value).drive:
        return False
    if ".." in PurePosixPath(value.replace("\\", "/")).parts:
        return False
    root = project_dir.resolve()
    return (root / value).resolve().is_relative_to(root)


def _walk(node: Any, where: str) -> Iterator[tuple[str, str, Any, Any]]:
    """(dotted place, field name, value, the field's default) of every field below a settings model."""
    if isinstance(node, BaseModel):
        for name, info in type(node).model_fields.items():
            value = getattr(node, name)
            place = f"{where}.{name}" if where else name
            yield place, name, value, info.get_default(call_default_factory=True)
            yield from _walk(value, place)
    elif isinstance(node, list | tuple):
        for i, item in enumerate(node):
            yield from _walk(item, f"{where}[{i}]")
    elif isinstance(node, dict):
        for key, item in node.items():
            yield from _walk(item, f"{where}.{key}")


def path_settings(config: BaseModel) -> set[tuple[str, str]]:
    """(place, path) of every file or folder a configuration names, local model folders included."""
    found: set[tuple[str, str]] = set()
    for place, name, value, _ in _walk(config, ""):
        if name in PATH_FIELDS and isinstance(value, str):
            found.add((place, value))
        elif name == "paths" and isinstance(value, list):
            found.update((f"{place}[{i}]", v) for i, v in enumerate(value) if isinstance(v, str))
        elif name == "id" and isinstance(value, str) and _local_model(value):
            found.add((place, value))
    return found


def _local_model(value: str) -> bool:
    from tunesmith.models.spec import BUNDLED_PREFIX

    if value.startswith(BUNDLED_PREFIX):
        return False
    # a hub id is ORG/NAME; anything else (./x, /abs, a/b/c, x.gguf) is read from the disk
    return value.startswith((".", "/", "~", "\\")) or value.count("/") != 1 or value.lower().endswith(".gguf")


def locked_settings(config: BaseModel) -> dict[str, Any]:
    """Locked settings that are set (differ from their default)."""
    return {place: value for place, name, value, default in _walk(config, "") if locked(name) and value != default}


def check_remote_changes(before: BaseModel, after: BaseModel, project_dir: Path, settable: Iterable[str] = ()) -> None:
    """Raise ConfigError for a change from ``before`` to ``after`` a remote caller may not make."""
    allowed = list(settable)
    for place, value in sorted(path_settings(after) - path_settings(before)):
        if not inside(project_dir, value):
            raise ConfigError(
                f"'{value[:200]}' is outside the project folder",
                where=place,
                fix="Name a file or folder inside the project, relative to it (no absolute paths, no '..').",
            )
    old = locked_settings(before)
    for place, value in locked_settings(after).items():
        if place in old and old[place] == value:
            continue
        if any(place == a or place.startswith((a + ".", a + "[")) for a in allowed):
            continue
        raise ConfigError(
            f"{place} cannot be changed from here",
            where=place,
            fix="Set it in tunesmith.yaml, or let the workbench change it with serve.workbench_settable.",
        )


def check_run_id(ref: str, where: str) -> str:
    if not RUN_ID.fullmatch(ref) or ".." in ref:
        raise ConfigError(f"'{ref[:100]}' is not a run id", where=where, fix="Pick a run from the list.")
    return ref
