"""Job forms generated from the config schema, and the `--set` overrides a submitted form becomes.

The fields are the pydantic models' own JSON schema (types, bounds, choices,
and the field docstrings as help), pre-filled with the project's current
values. A submitted form is turned into `--set section.key=value` overrides for
exactly the fields the user changed and validated by loading the project with
them, so the browser, the CLI and the project file share one validator: what
the form accepts the command accepts, and a bad value is the same error.
"""

from __future__ import annotations

import json
from typing import Any

from tunesmith.project import LoadedProject, Project, load_project

# What each job kind may change: sections of the project file.
SECTIONS: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "eval": ("eval",),
    "tune": ("tune", "train"),
    "gate": ("gates",),
    "data": ("data",),
    "kb": ("knowledge",),
}


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = {**defs[node["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _options(node: dict[str, Any], defs: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The non-null alternatives of a field, and whether null is allowed."""
    alternatives = node.get("anyOf") or node.get("oneOf") or [node]
    resolved = [_resolve(a, defs) for a in alternatives]
    nullable = any(a.get("type") == "null" for a in resolved)
    return [a for a in resolved if a.get("type") != "null"], nullable


def _field(path: str, name: str, node: dict[str, Any], defs: dict[str, Any], value: Any) -> dict[str, Any]:
    node = _resolve(node, defs)
    options, nullable = _options(node, defs)
    field: dict[str, Any] = {
        "path": path,
        "name": name,
        "label": node.get("title") or name.replace("_", " "),
        "help": (node.get("description") or "").strip(),
        "nullable": nullable,
        "value": value,
    }
    if len(options) == 1 and options[0].get("type") == "object" and "properties" in options[0] and not nullable:
        inner = options[0]
        field["kind"] = "group"
        field["help"] = field["help"] or (inner.get("description") or "").strip()
        field["fields"] = [
            _field(f"{path}.{key}", key, sub, defs, (value or {}).get(key) if isinstance(value, dict) else None)
            for key, sub in inner["properties"].items()
        ]
        return field
    choices: list[Any] = []
    kinds = set()
    for option in options:
        if "enum" in option or "const" in option:
            choices += option.get("enum", [option.get("const")])
            kinds.add("choice")
        else:
            kinds.add(option.get("type", "json"))
    bounds = {
        k: options[0][k] for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") if k in options[0]
    }
    if kinds == {"choice"}:
        field.update(kind="choice", choices=choices)
    elif kinds == {"boolean"} and not nullable:
        field["kind"] = "boolean"
    elif kinds <= {"integer", "number"} and len(kinds) == 1:
        field.update(kind=kinds.pop(), bounds=bounds)
    elif kinds == {"string"}:
        field["kind"] = "string"
    elif kinds <= {"integer", "number", "choice"} and choices:
        # e.g. `learning_rate: float | "auto"`: a number or one of the named choices
        field.update(kind="number_or_choice", choices=choices, bounds=bounds)
    else:
        field["kind"] = "json"  # lists, mappings, unions of sections: edited as JSON (which is YAML)
    return field


def form(loaded: LoadedProject, kind: str) -> list[dict[str, Any]]:
    """The form of a job kind: one group per project section it may change."""
    schema = Project.model_json_schema()
    defs = schema.get("$defs", {})
    current = loaded.config.model_dump(mode="json")
    return [
        _field(section, section, schema["properties"][section], defs, current.get(section))
        for section in SECTIONS[kind]
    ]


def _flatten(fields: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for field in fields:
        if field["kind"] == "group":
            out.update(_flatten(field["fields"]))
        else:
            out[field["path"]] = field
    return out


def overrides(loaded: LoadedProject, kind: str, values: dict[str, Any]) -> list[str]:
    """`--set` overrides for the submitted values that differ from the project; raises the project's own
    ConfigError (with the key and a fix) when a value is not accepted."""
    from tunesmith.core.errors import ConfigError

    fields = _flatten(form(loaded, kind))
    sets = []
    for path, value in values.items():
        if path not in fields:
            raise ConfigError(f"'{path}' is not a setting of a {kind} job", where=path, fix="Reload the page.")
        if value == fields[path]["value"]:
            continue
        # JSON is YAML: strings stay strings ("auto"), null clears a setting, lists and mappings keep their shape
        sets.append(f"{path}={json.dumps(value)}")
    from tunesmith.serve.confine import check_remote_changes

    changed = load_project(loaded.dir, sets)  # the same validation the command will do, reported now
    # what a browser may not change: paths leading out of the project, endpoints and code-running switches
    check_remote_changes(loaded.config, changed.config, loaded.dir, loaded.config.serve.workbench_settable)
    return sets
