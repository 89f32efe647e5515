"""`tunesmith gate`: pass/fail release checks on an evaluation run, with the evidence.

Exit code 0 only when every check passes; ``gate.json`` records each check's
rule, measured value, interval and reason, so a promotion can be audited.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tunesmith.core.rundir import RunDir
from tunesmith.eval.run import find_comparison
from tunesmith.gate.config import GateCheck


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


@dataclass
class GateResult:
    run: RunDir
    passed: bool
    checks: list[CheckResult]

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "checks": [asdict(c) for c in self.checks]}


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


def run(checks: list[GateCheck], *, eval_dir: Path, run_dir: RunDir) -> GateResult:
    scores = json.loads((eval_dir / "scores.json").read_text(encoding="utf-8"))
    comparisons = json.loads((eval_dir / "comparisons.json").read_text(encoding="utf-8"))
    results = [evaluate_check(check, scores, comparisons) for check in checks]
    result = GateResult(run=run_dir, passed=all(r.passed for r in results), checks=results)
    run_dir.write_json("gate.json", {**result.to_dict(), "eval_run": str(eval_dir)})
    run_dir.record_inputs(eval_run=str(eval_dir))
    return result
