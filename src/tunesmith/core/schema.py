"""The base for every config: typed, documented, strict.

Field docstrings become JSON-schema descriptions, which the CLI shows in
``--help`` and the web UI turns into form labels, so the docs and the forms
cannot disagree with the config.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A config section: unknown keys are errors, field docstrings are its docs."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, validate_default=True)
