"""Where the golden outputs are and how to split them."""

from __future__ import annotations

from pydantic import Field, model_validator

from tunesmith.core.schema import StrictModel


class GoldenConfig(StrictModel):
    """The company's past outputs that the model should learn to write."""

    path: str = "data/golden.jsonl"
    """JSONL or CSV file, relative to the project folder."""
    input_field: str = "input"
    """Field holding what the output answers (the ticket, the brief, the question)."""
    output_field: str = "output"
    """Field holding the golden output."""
    id_field: str | None = "id"
    """Field with a stable id per row (row numbers are used when absent)."""
    label_field: str | None = None
    """Optional field with a category, kept in each example's metadata."""


class SplitConfig(StrictModel):
    """Train/validation/test split: deterministic, and duplicates never straddle two splits."""

    val: float = Field(0.1, ge=0, lt=1)
    """Fraction for validation (baseline selection, early stopping, tuning)."""
    test: float = Field(0.2, ge=0, lt=1)
    """Fraction held out for the final evaluation only."""
    seed: int = 13
    """Changing the seed draws a different split."""

    @model_validator(mode="after")
    def _fractions(self) -> SplitConfig:
        if self.val + self.test >= 0.9:
            raise ValueError("val + test must leave at least 10% for training")
        return self
