"""Turn pydantic validation errors into one actionable line with file, line and suggestion."""

from __future__ import annotations

import difflib
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from tunesmith.core.errors import ConfigError
from tunesmith.core.yamlfile import KeyPath, LocatedYaml

M = TypeVar("M", bound=BaseModel)


def _model_at(model: type[BaseModel], path: KeyPath) -> type[BaseModel] | None:
    """The pydantic model that owns the mapping at ``path`` (for key suggestions)."""
    current: Any = model
    for part in path:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Find a BaseModel inside Optional[...], list[...], Union[...] annotations."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _unwrap(arg)
        if found is not None:
            return found
    return None


def _dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def validate_located(model: type[M], doc: LocatedYaml, *, context: dict[str, Any] | None = None) -> M:
    """Validate a located YAML document; the first error becomes a ConfigError."""
    try:
        return model.model_validate(doc.data, context=context)
    except ValidationError as exc:
        raise _first_error(model, exc, doc) from None


def _first_error(model: type[BaseModel], exc: ValidationError, doc: LocatedYaml) -> ConfigError:
    err = exc.errors(include_url=False)[0]
    loc: KeyPath = tuple(p for p in err["loc"] if isinstance(p, (str, int)))
    # pydantic appends the union member / tag name to loc for unions; keep only real keys.
    loc = _trim_to_document(loc, doc)
    where = doc.where(loc)
    key = _dotted(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        valid = sorted(owner.model_fields) if owner else []
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
        fix = f"Did you mean '{close[0]}'?" if close else ""
        if valid:
            fix += (" " if fix else "") + f"Valid keys here: {', '.join(valid)}."
        return ConfigError(f"unknown key '{key}'", where=where, fix=fix)
    if kind == "missing":
        return ConfigError(f"required key '{key}' is missing", where=where, fix="Add it to the project file.")
    return ConfigError(f"invalid value for '{key}': {err['msg']}", where=where)


def _trim_to_document(loc: KeyPath, doc: LocatedYaml) -> KeyPath:
    """Drop trailing loc parts that pydantic invented (union branch names) when they are not in the file."""
    data: Any = doc.data
    kept: list[str | int] = []
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
            kept.append(part)
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
            kept.append(part)
        elif isinstance(data, dict) and isinstance(part, str):
            # a missing or unknown key of this mapping: the error is about it
            kept.append(part)
            break
        else:
            # e.g. pydantic's 'str' / 'function-after[...]' union branch labels
            continue
    return tuple(kept)
