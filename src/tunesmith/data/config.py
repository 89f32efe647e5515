"""Where the golden outputs are and how to split them."""

from __future__ import annotations

from typing import Literal

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


class CleanConfig(StrictModel):
    """Cleaning with nothing lost: every removed or changed example is written out with its reason."""

    exact_dedup: bool = True
    """Drop exact duplicates (after normalizing case, punctuation and whitespace)."""
    near_dup_threshold: float | None = Field(0.85, gt=0, le=1)
    """Drop examples whose MinHash Jaccard similarity to an earlier one reaches this (null: off)."""
    pii: Literal["redact", "drop", "report", "off"] = "redact"
    """Personal data: replace with placeholders, drop the example, only report it, or skip the scan."""
    pii_kinds: list[Literal["email", "phone", "credit_card", "iban", "ip_address", "name"]] = Field(
        default_factory=lambda: ["email", "phone", "credit_card", "iban", "ip_address", "name"]
    )
    """What counts as personal data (names need spaCy with an English pipeline)."""
    pii_allow: list[str] = Field(default_factory=list)
    """Exact strings that are not personal data (the company's own support address or phone number)."""
    pii_allow_domains: list[str] = Field(default_factory=list)
    """Email domains that are not personal data (the company's own)."""
    min_words: int | None = Field(None, ge=0)
    """Drop examples with fewer words in total."""
    max_words: int | None = Field(None, ge=1)
    """Drop examples with more words in total."""
    languages: list[str] | None = None
    """Keep only these languages (ISO 639-1 codes, detected with py3langid); null keeps all."""
    min_language_confidence: float = Field(0.8, ge=0, le=1)
    """Only drop for language when the detector is at least this sure."""
