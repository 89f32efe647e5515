"""The base for every config: typed, documented, strict.

Field docstrings become JSON-schema descriptions, which the CLI shows in
``--help`` and the web UI turns into form labels, so the docs and the forms
cannot disagree with the config.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError


class StrictModel(BaseModel):
    """A config section: unknown keys are errors, field docstrings are its docs."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, validate_default=True)

    def updated(self, *, where: str = "", **changes: Any) -> Self:
        """A validated copy with ``changes`` (typed settings handed from one part of the code to another).

        ``model_copy(update=...)`` would accept any value; this validates like the project file does, and
        a bad value becomes one ConfigError naming ``where`` the value came from.
        """
        from tunesmith.core.errors import ConfigError

        if not changes:
            return self
        try:
            return type(self).model_validate({**self.model_dump(exclude_unset=False), **changes})
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            key = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"invalid value for '{key}': {err['msg']}", where=where or None) from None
