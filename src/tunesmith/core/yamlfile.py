"""Load YAML and remember the line of every key, so errors can point at it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tunesmith.core.errors import ConfigError

KeyPath = tuple[str | int, ...]


class LocatedYaml:
    """A parsed YAML document plus the 1-based line of every key path in it."""

    def __init__(self, data: Any, lines: dict[KeyPath, int], path: Path) -> None:
        self.data = data
        self.lines = lines
        self.path = path
        # key paths set from the command line (--set), which have no line in the file
        self.origins: dict[KeyPath, str] = {}

    def line_of(self, key_path: KeyPath) -> int | None:
        """The line of ``key_path`` or of its closest ancestor that has one."""
        path = tuple(key_path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def where(self, key_path: KeyPath) -> str:
        path = tuple(key_path)
        for cut in range(len(path), 0, -1):
            if path[:cut] in self.origins:
                return self.origins[path[:cut]]
        line = self.line_of(key_path)
        return f"{self.path}:{line}" if line else str(self.path)


def _walk(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], file: Path) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                # PyYAML silently keeps the last of two equal keys; a user who
                # wrote a key twice almost always meant something else.
                raise ConfigError(
                    f"key '{key}' appears twice (first on line {seen[key]})",
                    where=f"{file}:{line}",
                    fix="Remove one of them.",
                )
            seen[key] = line
            lines[path + (key,)] = line
            _walk(value_node, path + (key,), lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[path + (index,)] = item.start_mark.line + 1
            _walk(item, path + (index,), lines, file)


def load_yaml(path: Path) -> LocatedYaml:
    """Parse ``path``; a missing file or bad YAML becomes one ConfigError with its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "project file not found",
            where=str(path),
            fix="Run `tunesmith init DIR` to create one, or pass --project DIR.",
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"the file is not valid UTF-8 (byte {exc.start})", where=str(path), fix="Save it as UTF-8."
        ) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(
            f"malformed YAML: {problem}",
            where=f"{path}{line}",
            fix="Check indentation and quoting on that line (tabs are not allowed in YAML).",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"malformed YAML: {exc}", where=str(path)) from None
    lines: dict[KeyPath, int] = {}
    if node is not None:
        _walk(node, (), lines, path)
    return LocatedYaml(data if data is not None else {}, lines, path)
