"""`tunesmith gate`: pass/fail release checks on an evaluation run, with the evidence.

Metric and retention checks read the evaluation run. The regression suite,
the personal-data probe and the refusal check make the model under test answer
(through ``Subject``); toxicity is scored on every output the evaluation and
the gate produced for it. Exit code 0 only when every check passes;
``gate.json`` records each check's rule, measured value, interval and reason,
and one JSONL file per probe holds the per-case evidence.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tunesmith.core.jsonl import read_jsonl, write_jsonl
from tunesmith.core.progress import task
from tunesmith.core.rundir import RunDir
from tunesmith.data.refusals import declines
from tunesmith.gate.checks import CheckResult, evaluate_check, evaluate_retention
from tunesmith.gate.config import GatesConfig, PIIGate, RefusalGate, RegressionGate, ToxicityGate
from tunesmith.gate.regression import check_case, load_cases, require_judge
from tunesmith.gate.safety import (
    extraction_prefixes,
    find_leaks,
    load_requests,
    request_without_values,
    toxicity_scores,
    trained_pii_examples,
)
from tunesmith.models.generation import Generation

__all__ = ["CheckResult", "GateResult", "Subject", "evaluate_check", "run"]


class Subject(Protocol):
    """The model under test, as the gate drives it (``ModelSubject`` in the pipeline; fakes in tests)."""

    def answer(self, system: str, inputs: list[str], max_new_tokens: int) -> list[Generation]: ...

    def complete(self, system: str, texts: list[str], max_new_tokens: int) -> list[Generation]: ...

    def render_training(self, messages: list[dict[str, Any]]) -> str: ...

    @property
    def judge(self) -> Any | None: ...


@dataclass
class GateResult:
    run: RunDir
    passed: bool
    checks: list[CheckResult]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "checks": [asdict(c) for c in self.checks], **self.extra}


@dataclass
class _Outputs:
    """Every text the system under test produced for the gate, for the toxicity and leak scans."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, source: str, case: str, text: str) -> None:
        self.rows.append({"source": source, "id": case, "output": text})


def run(
    cfg: GatesConfig,
    *,
    eval_dir: Path,
    run_dir: RunDir,
    project_dir: Path,
    subject: Callable[[], Subject] | None = None,
    data_dir: Path | None = None,
    trust_judge: Callable[[str], object] | None = None,
    judge_metrics: frozenset[str] = frozenset({"judge_score"}),
) -> GateResult:
    """Check every declared gate. ``subject`` loads the model on first use (metric-only gates never do).
    ``trust_judge(use)`` raises when the LLM judge may not decide ``use`` (it has not passed its check against
    human labels); it is asked before any check that relies on the judge, so nothing runs on an untrusted one."""
    judged = [c for c in cfg.checks if c.metric in judge_metrics]
    if trust_judge is not None and judged:
        trust_judge(f"the gate check '{judged[0].name}' (on {judged[0].metric})")
    if trust_judge is not None and cfg.regression is not None:
        if any(c.needs_judge for c in load_cases(project_dir / cfg.regression.path)):
            trust_judge(f"the regression suite {cfg.regression.path} (its rubric cases)")
    scores = json.loads((eval_dir / "scores.json").read_text(encoding="utf-8"))
    comparisons = json.loads((eval_dir / "comparisons.json").read_text(encoding="utf-8"))
    summary = json.loads((eval_dir / "summary.json").read_text(encoding="utf-8"))
    results = [evaluate_check(check, scores, comparisons) for check in cfg.checks]
    if cfg.retention is not None:
        results.append(evaluate_retention(cfg.retention, summary.get("probe")))

    loaded: list[Subject] = []

    def model() -> Subject:
        if subject is None:
            raise RuntimeError("this gate needs the model, but none was given")
        if not loaded:
            loaded.append(subject())
        return loaded[0]

    if subject is not None:
        _prefetch(cfg, project_dir, data_dir, model)
    outputs = _Outputs()
    if cfg.regression is not None:
        results.append(_regression(cfg.regression, project_dir, model, run_dir, outputs))
    if cfg.refusal is not None:
        results.append(_refusal(cfg.refusal, project_dir, model, run_dir, outputs))
    if cfg.pii is not None:
        results.append(_pii(cfg.pii, data_dir, model, run_dir, outputs, eval_dir))
    if cfg.toxicity is not None:
        results.append(_toxicity(cfg.toxicity, eval_dir, run_dir, outputs))

    result = GateResult(
        run=run_dir, passed=all(r.passed for r in results), checks=results, extra={"eval_run": str(eval_dir)}
    )
    run_dir.write_json("gate.json", result.to_dict())
    return result


def _prefetch(cfg: GatesConfig, project_dir: Path, data_dir: Path | None, model: Callable[[], Subject]) -> None:
    """Every prompt the regression suite, the refusal check and the personal-data probe will ask, decoded
    together where the subject can (``ModelSubject.prefetch``): each probe then reads its answers."""
    chats: list[tuple[str, str, int]] = []
    texts: list[tuple[str, str, int]] = []
    cases = load_cases(project_dir / cfg.regression.path) if cfg.regression is not None else []
    if cfg.regression is not None:
        chats += [(cfg.regression.system, c.input, cfg.regression.max_new_tokens) for c in cases]
    if cfg.refusal is not None:
        requests = load_requests(cfg.refusal.prompts, project_dir / cfg.refusal.path if cfg.refusal.path else None)
        chats += [(cfg.refusal.system, r, cfg.refusal.max_new_tokens) for r in requests]
    probed = trained_pii_examples(data_dir)[: cfg.pii.max_examples] if cfg.pii and data_dir else []
    if not chats and not probed:
        return  # nothing to ask: the model is not loaded for it
    subject = model()
    require_judge(cases, subject.judge)  # before anything is decoded, as the suite itself does
    prefetch = getattr(subject, "prefetch", None)
    if prefetch is None:
        return
    if cfg.pii is not None and probed:
        prefixes, prompts = _extraction_prompts(cfg.pii, probed, subject)
        texts += [(cfg.pii.system, p, cfg.pii.max_new_tokens) for _, _, p in prefixes]
        chats += [(cfg.pii.system, text, PII_REQUEST_TOKENS) for _, text in prompts]
    if len(chats) + len(texts) > 1:
        with task(f"Gate probes ({len(chats) + len(texts)} prompts in one batch)", None):
            prefetch(chats, texts)


def _regression(
    gate: RegressionGate, project_dir: Path, model: Callable[[], Subject], run_dir: RunDir, outputs: _Outputs
) -> CheckResult:
    cases = load_cases(project_dir / gate.path)
    subject = model()
    require_judge(cases, subject.judge)
    with task(f"Regression suite ({len(cases)} cases)", None):
        answers = subject.answer(gate.system, [c.input for c in cases], gate.max_new_tokens)
    scores: list[float | None] = [None] * len(cases)
    by_rubric: dict[str, list[int]] = {}
    for i, case in enumerate(cases):
        if case.needs_judge:
            by_rubric.setdefault(str(case.expect["rubric"]), []).append(i)
    for rubric, indices in by_rubric.items():
        from tunesmith.eval.judge import judge_scores

        graded = judge_scores(
            subject.judge,
            [cases[i].input for i in indices],
            [answers[i].text for i in indices],
            [cases[i].reference for i in indices],
            rubric,
        )
        for i, score in zip(indices, graded, strict=True):
            scores[i] = score
    rows = []
    for case, answer, score in zip(cases, answers, scores, strict=True):
        failures = check_case(case, answer.text, score)
        outputs.add("regression", case.id, answer.text)
        rows.append(
            {
                "id": case.id,
                "where": case.where,
                "input": case.input,
                "output": answer.text,
                "passed": not failures,
                "failures": failures,
                "judge_score": score,
            }
        )
    write_jsonl(run_dir.path("regression.jsonl"), rows)
    passed_n = sum(r["passed"] for r in rows)
    rate = passed_n / len(rows)
    failed = [r["id"] for r in rows if not r["passed"]]
    shown = [f"{r['id']} ({'; '.join(r['failures'])})" for r in rows if not r["passed"]][:5]
    reason = f"{passed_n}/{len(rows)} cases pass" + (f"; failing: {', '.join(shown)}" if shown else "")
    if len(failed) > len(shown):
        reason += f" and {len(failed) - len(shown)} more"
    rule = f"{gate.system} passes >= {gate.min_pass_rate:.0%} of {gate.path}"
    return CheckResult(
        "regression suite",
        rule,
        gate.system,
        "pass_rate",
        rate >= gate.min_pass_rate,
        rate,
        None,
        None,
        reason,
        kind="regression",
        evidence="regression.jsonl",
        details={"cases": len(rows), "failed": failed},
    )


def _refusal(
    gate: RefusalGate, project_dir: Path, model: Callable[[], Subject], run_dir: RunDir, outputs: _Outputs
) -> CheckResult:
    requests = load_requests(gate.prompts, project_dir / gate.path if gate.path else None)
    with task(f"Out-of-scope requests ({len(requests)})", None):
        answers = model().answer(gate.system, requests, gate.max_new_tokens)
    rows = []
    for i, (request, answer) in enumerate(zip(requests, answers, strict=True)):
        marker = declines(answer.text, gate.markers)
        outputs.add("refusal", f"oos-{i + 1}", answer.text)
        rows.append({"input": request, "output": answer.text, "declined": marker is not None, "marker": marker})
    write_jsonl(run_dir.path("refusal.jsonl"), rows)
    rate = sum(r["declined"] for r in rows) / len(rows)
    answered = [r["input"][:60] for r in rows if not r["declined"]]
    reason = f"declined {sum(r['declined'] for r in rows)}/{len(rows)} out-of-scope requests ({rate:.0%})"
    if answered:
        reason += f"; answered e.g. {answered[0]!r}"
    rule = f"{gate.system} declines >= {gate.min_rate:.0%} of out-of-scope requests"
    return CheckResult(
        "refusal",
        rule,
        gate.system,
        "refusal_rate",
        rate >= gate.min_rate,
        rate,
        None,
        None,
        reason,
        kind="safety",
        evidence="refusal.jsonl",
        details={"requests": len(rows)},
    )


def _pii(
    gate: PIIGate,
    data_dir: Path | None,
    model: Callable[[], Subject],
    run_dir: RunDir,
    outputs: _Outputs,
    eval_dir: Path,
) -> CheckResult:
    rule = f"{gate.system} reproduces <= {gate.max_leaks} training-set personal-data values"
    examples = trained_pii_examples(data_dir) if data_dir is not None else []
    probed = examples[: gate.max_examples]
    values = list({v.text: v for e in examples for v in e.values}.values())
    rows = _extraction_rows(gate, probed, values, model()) if probed else []
    # everything else this system said, in the evaluation and in the other gates
    others = [(r["source"], r["id"], r["output"]) for r in outputs.rows]
    others += [("eval", r["id"], r["output"]) for r in _eval_outputs(eval_dir, gate.system)]
    if values:
        for source, case, text in others:
            row = _leak_row({"id": case, "probe": source}, text, values)
            if row["leaked"]:
                rows.append(row)
    write_jsonl(run_dir.path("pii_probe.jsonl"), rows)
    for row in rows:
        if row["probe"] in ("prefix", "request"):
            outputs.add(f"pii-{row['probe']}", row["id"], row["output"])
    leaking = [r for r in rows if r["leaked"]]
    if not examples:
        reason = "no trained-on example held personal data (nothing to extract)"
    else:
        reason = (
            f"{len(leaking)} of {len(rows)} outputs reproduce a training value "
            f"({len(probed)} of {len(examples)} examples with personal data probed, {len(values)} values, "
            f"{len(others)} other outputs scanned)"
        )
        if leaking:
            reason += f"; e.g. {leaking[0]['leaked_values'][0]} in {leaking[0]['probe']} probe of {leaking[0]['id']}"
    return CheckResult(
        "personal data",
        rule,
        gate.system,
        "pii_leaks",
        len(leaking) <= gate.max_leaks,
        float(len(leaking)),
        None,
        None,
        reason,
        kind="safety",
        evidence="pii_probe.jsonl",
        details={"examples": len(examples), "probed": len(probed), "values": len(values), "leaks": len(leaking)},
    )


def _leak_row(row: dict[str, Any], output: str, values: list[Any]) -> dict[str, Any]:
    """``row`` with the output and the training values it reproduces (masked)."""
    leaks = find_leaks(output, values)
    return {**row, "output": output, "leaked": [v.kind for v in leaks], "leaked_values": [v.masked() for v in leaks]}


PII_REQUEST_TOKENS = 200  # a request asked again is answered in full, as a user would get it


def _extraction_prompts(
    gate: PIIGate, probed: list[Any], subject: Subject
) -> tuple[list[tuple[Any, Any, str]], list[tuple[Any, str]]]:
    """(example, value, the training text cut before the value) per value, and (example, its request without
    the values) per example."""
    prefixes = [(e, v, p) for e in probed for v, p in extraction_prefixes(e, subject.render_training)]
    prompts = [(e, request_without_values(e)) for e in probed]
    return prefixes, prompts


def _extraction_rows(gate: PIIGate, probed: list[Any], values: list[Any], subject: Subject) -> list[dict[str, Any]]:
    """Each probed example cut before each personal value and continued, and its request asked again."""
    prefixes, prompts = _extraction_prompts(gate, probed, subject)
    with task(f"Personal-data probe ({len(prefixes)} prefixes, {len(prompts)} requests)", None):
        continued = subject.complete(gate.system, [p for _, _, p in prefixes], gate.max_new_tokens)
        answered = subject.answer(gate.system, [text for _, text in prompts], PII_REQUEST_TOKENS)
    rows = [
        _leak_row(
            {"id": e.id, "where": e.where, "probe": "prefix", "target": v.kind, "prefix_end": prefix[-80:]},
            out.text,
            values,
        )
        for (e, v, prefix), out in zip(prefixes, continued, strict=True)
    ]
    rows += [
        _leak_row(
            {"id": e.id, "where": e.where, "probe": "request", "target": None, "input": request}, out.text, values
        )
        for (e, request), out in zip(prompts, answered, strict=True)
    ]
    return rows


def _toxicity(gate: ToxicityGate, eval_dir: Path, run_dir: RunDir, outputs: _Outputs) -> CheckResult:
    texts = [("eval", r["id"], r["output"]) for r in _eval_outputs(eval_dir, gate.system)]
    texts += [(r["source"], r["id"], r["output"]) for r in outputs.rows]
    with task(f"Toxicity ({len(texts)} outputs)", None):
        probabilities = toxicity_scores([t for _, _, t in texts])
    rows = [
        {"source": s, "id": i, "output": t, "toxicity": round(p, 4), "toxic": p >= gate.threshold}
        for (s, i, t), p in zip(texts, probabilities, strict=True)
    ]
    rows.sort(key=lambda r: -r["toxicity"])
    write_jsonl(run_dir.path("toxicity.jsonl"), rows)
    toxic = sum(r["toxic"] for r in rows)
    rate = toxic / len(rows) if rows else 0.0
    rule = f"{gate.system} toxic outputs (p >= {gate.threshold:g}) <= {gate.max_rate:.1%}"
    top = rows[0]["toxicity"] if rows else 0.0
    reason = f"{toxic}/{len(rows)} outputs toxic ({rate:.1%}); highest probability {top:.3f}"
    return CheckResult(
        "toxicity",
        rule,
        gate.system,
        "toxic_rate",
        rate <= gate.max_rate,
        rate,
        None,
        None,
        reason,
        kind="safety",
        evidence="toxicity.jsonl",
        details={"outputs": len(rows), "toxic": toxic, "max": top},
    )


def _eval_outputs(eval_dir: Path, system: str) -> list[dict[str, Any]]:
    path = eval_dir / "outputs.jsonl"
    return [r for r in read_jsonl(path) if r["system"] == system] if path.is_file() else []
