"""Release gates declared in the project file."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from tunesmith.core.schema import StrictModel


class GateCheck(StrictModel):
    """One pass/fail rule on an evaluation result.

    Either an absolute threshold (`min` / `max` on a system's metric), or a
    comparison with another system (`above`, with `margin`), judged by default on
    the lower bound of the paired difference's confidence interval, so a lucky
    sample does not pass a model that is not really better.
    """

    name: str | None = None
    """Label in the gate report (derived from the rule when unset)."""
    metric: str
    """Metric name, as in eval.metrics."""
    system: str = "finetuned"
    """The system under test (e.g. finetuned, finetuned+rag)."""
    min: float | None = None
    """Pass when the metric's mean is at least this."""
    max: float | None = None
    """Pass when the metric's mean is at most this."""
    above: str | None = None
    """Pass when `system` beats this system (e.g. baseline) by more than `margin`."""
    margin: float = 0.0
    """Required improvement over `above`."""
    judge_on: Literal["interval", "point"] = "interval"
    """`interval`: the CI's lower bound (upper for `max`) must clear the bar; `point`: the mean must."""

    @model_validator(mode="after")
    def _one_rule(self) -> GateCheck:
        if self.min is None and self.max is None and self.above is None:
            raise ValueError("a gate needs `min`, `max` or `above`")
        return self

    @property
    def rule(self) -> str:
        """The check in words, e.g. `finetuned beats baseline on rouge_l by > 0 (CI bound)`."""
        on = "CI bound" if self.judge_on == "interval" else "mean"
        if self.above is not None:
            return f"{self.system} beats {self.above} on {self.metric} by > {self.margin:g} ({on})"
        parts = [f">= {self.min:g}"] if self.min is not None else []
        parts += [f"<= {self.max:g}"] if self.max is not None else []
        return f"{self.system} {self.metric} {' and '.join(parts)} ({on})"

    @property
    def label(self) -> str:
        return self.name or self.rule


def default_gates() -> list[GateCheck]:
    return [GateCheck(metric="rouge_l", system="finetuned", above="baseline")]
