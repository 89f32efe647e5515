"""Checks that read an evaluation run: metric thresholds, margins, retention.

Each check returns a ``CheckResult``: the rule in words, the measured value
with its interval, pass or fail, and why. Margins are judged on the interval's
bound by default, so a lucky sample cannot pass a model that is not better.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tunesmith.eval.run import find_comparison
from tunesmith.gate.config import GateCheck, RetentionGate


@dataclass
class CheckResult:
    name: str
    rule: str
    system: str
    metric: str
    passed: bool
    value: float | None
    low: float | None
    high: float | None
    reason: str
    kind: str = "metric"
    evidence: str | None = None
    """File in the gate run folder with the per-case evidence."""
    details: dict[str, Any] = field(default_factory=dict)


def evaluate_check(check: GateCheck, scores: dict[str, Any], comparisons: list[dict[str, Any]]) -> CheckResult:
    def result(
        passed: bool, reason: str, value: float | None = None, low: float | None = None, high: float | None = None
    ) -> CheckResult:
        return CheckResult(check.label, check.rule, check.system, check.metric, passed, value, low, high, reason)

    if check.system not in scores:
        return result(False, f"system '{check.system}' was not evaluated (evaluated: {', '.join(scores)})")
    if check.metric not in scores[check.system]:
        return result(False, f"metric '{check.metric}' was not computed")
    if check.above is not None:
        if check.above not in scores:
            return result(False, f"system '{check.above}' was not evaluated")
        comparison = find_comparison(comparisons, check.system, check.above, check.metric)
        if comparison is None:
            return result(False, f"no paired comparison of {check.system} and {check.above}")
        diff = comparison["diff"]
        measured = diff["low"] if check.judge_on == "interval" else diff["mean"]
        passed = measured > check.margin
        basis = "the interval's lower bound" if check.judge_on == "interval" else "the mean difference"
        reason = (
            f"{check.system} - {check.above} = {diff['mean']:+.4f} "
            f"[{diff['low']:+.4f}, {diff['high']:+.4f}]; {basis} {measured:+.4f} "
            f"{'>' if passed else '<='} margin {check.margin:g}"
        )
        return result(passed, reason, diff["mean"], diff["low"], diff["high"])
    interval = scores[check.system][check.metric]
    mean, low, high = interval["mean"], interval["low"], interval["high"]
    failures = []
    if check.min is not None:
        measured = low if check.judge_on == "interval" else mean
        if measured < check.min:
            failures.append(
                f"{'lower bound' if check.judge_on == 'interval' else 'mean'} {measured:.4f} < {check.min:g}"
            )
    if check.max is not None:
        measured = high if check.judge_on == "interval" else mean
        if measured > check.max:
            failures.append(
                f"{'upper bound' if check.judge_on == 'interval' else 'mean'} {measured:.4f} > {check.max:g}"
            )
    reason = f"{check.metric} = {mean:.4f} [{low:.4f}, {high:.4f}]" + ("; " + "; ".join(failures) if failures else "")
    return result(not failures, reason, mean, low, high)


def evaluate_retention(gate: RetentionGate, probe: dict[str, Any] | None) -> CheckResult:
    """General-skills accuracy, fine-tuned minus base, must not fall below ``-max_drop``; with ``min_agreement``,
    the label-free agreement with the base model's own answers must reach it too."""
    on = "CI bound" if gate.judge_on == "interval" else "mean"
    rule = f"general skills drop <= {gate.max_drop:g} vs base ({on})"
    if gate.min_agreement is not None:
        rule += f", agreement with base >= {gate.min_agreement:g}"

    def result(passed: bool, reason: str, diff: dict[str, Any] | None = None) -> CheckResult:
        value, low, high = (diff["mean"], diff["low"], diff["high"]) if diff else (None, None, None)
        return CheckResult(
            "retention", rule, "finetuned", "general_skills", passed, value, low, high, reason, kind="retention"
        )

    if probe is None:
        return result(
            False, "the evaluation ran no general-skills probe (set eval.probe: true, or gates.retention: null)"
        )
    comparison = probe.get("finetuned_vs_base")
    if comparison is None:
        return result(False, "the probe has no fine-tuned model to compare with the base")
    diff = comparison["diff"]
    measured = diff["low"] if gate.judge_on == "interval" else diff["mean"]
    passed = measured >= -gate.max_drop
    accuracy = probe["accuracy"]
    bound = "lower bound" if gate.judge_on == "interval" else "mean"
    reason = (
        f"accuracy base {accuracy['base']['mean']:.3f}, fine-tuned {accuracy['finetuned']['mean']:.3f}; "
        f"difference {diff['mean']:+.3f} [{diff['low']:+.3f}, {diff['high']:+.3f}] over {probe['items']} questions; "
        f"{bound} {measured:+.3f} {'>=' if passed else '<'} -{gate.max_drop:g}"
    )
    agreement = probe.get("agreement")
    if agreement:
        reason += f"; agreement with base {agreement['mean']:.3f} [{agreement['low']:.3f}, {agreement['high']:.3f}]"
        if gate.min_agreement is not None:
            agreed = (agreement["low"] if gate.judge_on == "interval" else agreement["mean"]) >= gate.min_agreement
            reason += f" ({'>=' if agreed else '<'} {gate.min_agreement:g})"
            passed = passed and agreed
    elif gate.min_agreement is not None:
        passed = False
        reason += "; the probe measured no agreement (run the evaluation again)"
    return result(passed, reason, diff)
