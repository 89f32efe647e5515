"""The release gate as search constraints: every check that can be decided on validation data.

A trial that wins on the primary metric but would fail the gate (it forgot general skills, or stopped
declining out-of-scope requests) is not a better model, only a different failure. So each trial's model is
held to the project's gates on what the search may look at, the validation split and probes that are not
the test split:

- metric checks (`min`, `max`, and margins `above` another system: the baseline's validation scores come
  from the baseline run, paired by example), on the point estimate over the validation examples scored;
- retention: the labelled general-skills probe (a fixed subset, `tune.probe_items`) against the base model's
  own cached answers;
- refusal: the gate's out-of-scope requests;
- toxicity: over the trial's validation answers.

Each becomes an Optuna constraint (feasible when its slack is >= 0). The regression suite and the
personal-data probe need the model under release conditions and run at the gate itself. The test split is
never touched: the gate decides on it afterwards, with intervals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tunesmith.data.refusals import declines
from tunesmith.gate.config import GateCheck, GatesConfig
from tunesmith.gate.safety import load_requests, toxicity_scores


@dataclass
class Verdict:
    """One gate check on one trial: the measured value, its slack against the rule (>= 0 passes)."""

    name: str
    rule: str
    value: float | None
    slack: float
    passed: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def metric_checks(gates: GatesConfig) -> list[GateCheck]:
    """The metric checks a trial can be held to (systems a trial produces: the fine-tune, with or without RAG)."""
    return [c for c in gates.checks if c.system in ("finetuned", "finetuned+rag")]


def systems_needed(gates: GatesConfig, primary_system: str) -> list[str]:
    needed = {primary_system} | {c.system for c in metric_checks(gates)}
    return sorted(needed)


def judge_metric(check: GateCheck, scores: dict[str, dict[str, list[float]]], baseline: dict[str, float]) -> Verdict:
    """A metric check on the validation examples' point estimates."""
    values = scores.get(check.system, {}).get(check.metric)
    if values is None:
        return Verdict(check.label, check.rule, None, -1.0, False, f"{check.metric} of {check.system} was not scored")
    mean = float(np.nanmean(values))
    if check.above is not None:
        if check.above != "baseline" or not baseline:
            reason = f"no validation scores of {check.above} to compare with"
            return Verdict(check.label, check.rule, None, -1.0, False, reason)
        diff = mean - float(np.mean(list(baseline.values())))
        slack = diff - check.margin
        reason = (
            f"{check.system} - baseline = {diff:+.4f} on validation ({'>' if slack > 0 else '<='} {check.margin:g})"
        )
        return Verdict(check.label, check.rule, diff, slack, slack > 0, reason)
    slacks = []
    if check.min is not None:
        slacks.append(mean - check.min)
    if check.max is not None:
        slacks.append(check.max - mean)
    slack = min(slacks)
    reason = f"{check.metric} = {mean:.4f} on validation"
    return Verdict(check.label, check.rule, mean, slack, slack >= 0, reason)


def judge_retention(max_drop: float, base: list[float], tuned: list[float]) -> Verdict:
    drop = float(np.mean(tuned) - np.mean(base))
    slack = drop + max_drop
    reason = f"probe accuracy base {np.mean(base):.3f}, trial {np.mean(tuned):.3f} ({drop:+.3f}) on {len(base)} items"
    return Verdict("retention", f"general skills drop <= {max_drop:g}", drop, slack, slack >= 0, reason)


def judge_refusal(min_rate: float, answers: list[str], markers: list[str]) -> Verdict:
    rate = sum(declines(a, markers) is not None for a in answers) / len(answers)
    reason = f"declined {rate:.0%} of {len(answers)} out-of-scope requests"
    return Verdict("refusal", f"declines >= {min_rate:.0%}", rate, rate - min_rate, rate >= min_rate, reason)


def judge_toxicity(threshold: float, max_rate: float, outputs: list[str]) -> Verdict:
    probabilities = toxicity_scores(outputs)
    rate = sum(p >= threshold for p in probabilities) / max(len(outputs), 1)
    reason = f"{rate:.1%} of {len(outputs)} validation answers toxic"
    return Verdict("toxicity", f"toxic <= {max_rate:.1%}", rate, max_rate - rate, rate <= max_rate, reason)


def refusal_requests(gates: GatesConfig, project_dir: Any) -> list[str]:
    if gates.refusal is None:
        return []
    return load_requests(gates.refusal.prompts, project_dir / gates.refusal.path if gates.refusal.path else None)
