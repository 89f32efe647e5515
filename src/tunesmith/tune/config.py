"""The `tune:` section: the search space and how a study runs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from tunesmith.core.schema import StrictModel


class Param(StrictModel):
    """One dimension: a range (`low`, `high`, optional `log`/`step`) or a list of `choices`."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Param:
        if self.choices is None and (self.low is None or self.high is None):
            raise ValueError("give either choices: [...] or low: and high:")
        if self.choices is not None and (self.low is not None or self.high is not None):
            raise ValueError("give choices or a range, not both")
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ValueError("low must be below high")
        if self.log and self.low is not None and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


def _default_space() -> dict[str, Param]:
    return {
        "learning_rate": Param(low=2e-4, high=3e-3, log=True),
        "lora_r": Param(choices=[8, 16, 32]),
    }


class TuneConfig(StrictModel):
    """Hyperparameter search scored on the validation split (never the test split)."""

    trials: int = Field(8, ge=1)
    """Trials in the study (all workers together)."""
    search_space: dict[str, Param] = Field(default_factory=_default_space)
    """Training settings to search, by their `train:` names: learning_rate, epochs, lora_r, lora_alpha,
    lora_dropout, target_modules, recipe, beta, batch_size, ..."""
    metric: str | None = None
    """The objective (maximized); eval.primary when unset."""
    val_limit: int = Field(24, ge=1)
    """Validation examples generated and scored per trial."""
    max_new_tokens: int = Field(160, ge=8)
    """Longest answer per validation example."""
    sampler: Literal["tpe", "random"] = "tpe"
    """Optuna's sampler."""
    pruner: Literal["median", "none"] = "median"
    """Stop trials whose validation loss at an evaluation is worse than the median of earlier trials there."""
    seed: int = 13
    """Sampler seed."""
    study: str | None = None
    """Study name (the project name when unset); workers sharing a name and storage share the study."""
    storage: str | None = None
    """Optuna storage URL: sqlite in the project by default; postgresql://... for workers on several machines."""
    storage_env: str | None = None
    """Environment variable holding the storage URL (keeps passwords out of the file)."""
    constraints: Literal["gate", "none"] = "gate"
    """`gate`: hold every trial to the project's release gates as far as validation data can decide them
    (metric thresholds and margins, retention, refusal, toxicity); the best trial is the best feasible one and
    the report says which check each other trial failed. `none`: the objective alone."""
    objectives: list[str] = Field(default_factory=list)
    """More than one makes a multi-objective study with a Pareto front: metric names (scored on `system`),
    `retention` (probe accuracy, fine-tuned minus base). The first is `metric` when unset."""
    system: Literal["finetuned", "finetuned+rag"] = "finetuned"
    """The system a trial's objective is scored on: the fine-tune alone, or with runtime retrieval."""
    probe_items: int = Field(120, ge=10, le=1000)
    """General-skills probe questions each trial answers for the retention constraint (a fixed subset)."""
