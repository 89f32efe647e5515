"""`tunesmith eval`: the fine-tune x RAG grid on the held-out test split.

Systems (all on the same test examples, the same metrics):

- ``baseline``: the prompt and model the baseline stage picked;
- ``base`` / ``base+rag``: the base model with the project's short system prompt,
  without and with knowledge-base points retrieved at runtime from the input;
- ``finetuned`` / ``finetuned+rag``: the same with the trained adapter.

Retrieval here uses only the input, as a deployed system would; the points
stored with the test examples (picked using the golden output) are never shown
to a model during evaluation.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.core.atomic import read_jsonl, write_jsonl
from tunesmith.core.errors import StageError
from tunesmith.core.progress import task
from tunesmith.core.rundir import RunDir
from tunesmith.data.instruction import chat, render_template
from tunesmith.eval.config import EvalConfig
from tunesmith.eval.metrics.base import MetricContext
from tunesmith.eval.scoring import score_outputs
from tunesmith.eval.stats import Interval, bootstrap_mean, paired_comparison
from tunesmith.knowledge.config import KnowledgeConfig
from tunesmith.knowledge.ingest import ingest
from tunesmith.knowledge.rag import RuntimeRag
from tunesmith.models.generation import Generation, GenerationParams
from tunesmith.models.local import LocalGenerator
from tunesmith.models.pool import ModelPool
from tunesmith.models.spec import LocalModelRef, parse_model_ref

FINETUNED_ADAPTER = "finetuned"


@dataclass
class EvalResult:
    run: RunDir
    systems: list[str]
    scores: dict[str, dict[str, Interval]]
    comparisons: list[dict[str, Any]]
    summary: dict[str, Any]


def run(
    cfg: EvalConfig,
    *,
    base: LocalModelRef,
    system_prompt: str,
    knowledge: KnowledgeConfig,
    data_dir: Path,
    adapter_dir: Path | None,
    baseline: dict[str, Any] | None,
    project_dir: Path,
    run_dir: RunDir,
    pool: ModelPool,
) -> EvalResult:
    test = read_jsonl(data_dir / "test.jsonl")
    if cfg.limit:
        test = test[: cfg.limit]
    if not test:
        raise StageError(
            "the test split is empty",
            where=str(data_dir / "test.jsonl"),
            fix="Raise data.split.test or add golden outputs, then rebuild the data.",
        )
    systems = [s for s in cfg.systems if _available(s, adapter_dir, baseline)]
    if not systems:
        raise StageError(
            "no system to evaluate", where="eval.systems", fix="Run `tunesmith train` and `tunesmith baseline` first."
        )
    inputs = [r["meta"]["input"] for r in test]
    references = [r["meta"]["output"] for r in test]

    needs_rag = any(s.endswith("+rag") for s in systems) or (
        "baseline" in systems and baseline is not None and baseline["template_def"].get("retrieval")
    )
    points: list[list[str]] = [[] for _ in test]
    citations: list[list[dict[str, Any]]] = [[] for _ in test]
    if needs_rag:
        ingest(knowledge, project_dir)
        rag = RuntimeRag.open(knowledge, project_dir)
        picked = rag.points_for(inputs)
        points = [[p.text for p in pts] for pts in picked]
        citations = [[p.to_dict() for p in pts] for pts in picked]

    base_generator = pool.local(base)
    if adapter_dir is not None and any(s.startswith("finetuned") for s in systems):
        base_generator.add_adapter(FINETUNED_ADAPTER, adapter_dir)

    params = GenerationParams(max_new_tokens=cfg.max_new_tokens)
    rows: list[dict[str, Any]] = []
    per_system_scores: dict[str, dict[str, list[float]]] = {}
    for system in systems:
        uses_rag = system.endswith("+rag") or (
            system == "baseline" and bool(baseline and baseline["template_def"].get("retrieval"))
        )
        generations = _generate(system, test, points, params, base_generator, baseline, system_prompt, pool)
        outputs = [g.text for g in generations]
        ctx = MetricContext(
            inputs=inputs,
            contexts=points if uses_rag else [[] for _ in test],
            style=cfg.style,
            embedder=knowledge.embedder,
        )
        scores = score_outputs(cfg.metrics, outputs, references, ctx)
        per_system_scores[system] = scores
        for i, (record, generation) in enumerate(zip(test, generations, strict=True)):
            rows.append(
                {
                    "id": record["id"],
                    "system": system,
                    "input": inputs[i],
                    "reference": references[i],
                    "output": generation.text,
                    "prompt_tokens": generation.prompt_tokens,
                    "completion_tokens": generation.completion_tokens,
                    "finish_reason": generation.finish_reason,
                    "latency_s": round(generation.latency_s, 4),
                    "citations": citations[i] if uses_rag else [],
                    "scores": {m: v[i] for m, v in scores.items()},
                }
            )
        run_dir.log_metrics(system=system, **{m: sum(v) / len(v) for m, v in scores.items()})

    intervals = {
        system: {
            m: bootstrap_mean(v, resamples=cfg.bootstrap, confidence=cfg.confidence, seed=cfg.seed)
            for m, v in scores.items()
        }
        for system, scores in per_system_scores.items()
    }
    comparisons = []
    for a, b in itertools.combinations(systems, 2):
        for metric in cfg.metrics:
            comparison = paired_comparison(
                b,
                a,
                metric,
                per_system_scores[b][metric],
                per_system_scores[a][metric],
                resamples=cfg.bootstrap,
                confidence=cfg.confidence,
                seed=cfg.seed,
            )
            comparisons.append(comparison.to_dict())
    write_jsonl(run_dir.path("outputs.jsonl"), rows)
    run_dir.write_json("scores.json", {s: {m: i.to_dict() for m, i in ms.items()} for s, ms in intervals.items()})
    run_dir.write_json("comparisons.json", comparisons)
    summary = summarize(cfg, intervals, comparisons, rows, n=len(test))
    run_dir.write_json("summary.json", summary)
    run_dir.record_inputs(
        data_run=str(data_dir), adapter=str(adapter_dir) if adapter_dir else None, test_examples=len(test)
    )
    return EvalResult(run=run_dir, systems=systems, scores=intervals, comparisons=comparisons, summary=summary)


def _available(system: str, adapter_dir: Path | None, baseline: dict[str, Any] | None) -> bool:
    if system.startswith("finetuned"):
        return adapter_dir is not None
    if system == "baseline":
        return baseline is not None
    return True


def _generate(
    system: str,
    test: list[dict[str, Any]],
    points: list[list[str]],
    params: GenerationParams,
    base_generator: LocalGenerator,
    baseline: dict[str, Any] | None,
    system_prompt: str,
    pool: ModelPool,
) -> list[Generation]:
    inputs = [r["meta"]["input"] for r in test]
    with task(f"Eval {system}", len(test)) as update:
        if system == "baseline":
            assert baseline is not None
            template = baseline["template_def"]
            shots = [tuple(s) for s in baseline.get("shots", [])]
            chats = [
                render_template(
                    system=template.get("system") if template.get("system") is not None else (system_prompt or None),
                    user=template.get("user", "{input}"),
                    input_text=inputs[i],
                    points=points[i] if template.get("retrieval") else None,
                    shots=shots,
                )  # type: ignore[arg-type]
                for i in range(len(test))
            ]
            generator = pool.get(parse_model_ref(baseline["model_ref"]))
            return generator.generate(chats, params, on_progress=update)
        rag = system.endswith("+rag")
        chats = [chat(system_prompt or None, inputs[i], points[i] if rag else None) for i in range(len(test))]
        adapter = FINETUNED_ADAPTER if system.startswith("finetuned") else None
        return base_generator.generate(chats, params, adapter=adapter, on_progress=update)


def summarize(
    cfg: EvalConfig,
    intervals: dict[str, dict[str, Interval]],
    comparisons: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    *,
    n: int,
) -> dict[str, Any]:
    primary = cfg.primary
    systems = {s: {m: i.to_dict() for m, i in ms.items()} for s, ms in intervals.items()}
    best = max(intervals, key=lambda s: intervals[s][primary].mean)
    headline = None
    if "finetuned" in intervals and "baseline" in intervals:
        headline = find_comparison(comparisons, "finetuned", "baseline", primary)
    tokens = {}
    for system in intervals:
        sys_rows = [r for r in rows if r["system"] == system]
        tokens[system] = {
            "prompt_tokens": sum(r["prompt_tokens"] for r in sys_rows) / len(sys_rows),
            "completion_tokens": sum(r["completion_tokens"] for r in sys_rows) / len(sys_rows),
            "stopped": sum(r["finish_reason"] == "stop" for r in sys_rows) / len(sys_rows),
        }
    return {
        "primary": primary,
        "test_examples": n,
        "systems": systems,
        "best_system": best,
        "finetuned_vs_baseline": headline,
        "tokens": tokens,
    }


def find_comparison(comparisons: list[dict[str, Any]], system: str, other: str, metric: str) -> dict[str, Any] | None:
    """The paired difference system - other for a metric, whichever way round it was stored."""
    for c in comparisons:
        if c["metric"] == metric and c["system"] == system and c["other"] == other:
            return c
        if c["metric"] == metric and c["system"] == other and c["other"] == system:
            flipped = dict(c)
            d = c["diff"]
            flipped.update(
                system=system, other=other, diff={"mean": -d["mean"], "low": -d["high"], "high": -d["low"], "n": d["n"]}
            )
            return flipped
    return None
