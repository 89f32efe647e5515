"""`tunesmith eval`: the fine-tune x RAG grid on the held-out test split.

Systems (all on the same test examples, the same metrics):

- ``baseline``: the prompt and model the baseline stage picked;
- ``base`` / ``base+rag``: the base model with the project's short system prompt,
  without and with knowledge-base points retrieved at runtime from the input;
- ``finetuned`` / ``finetuned+rag``: the same with the trained adapter.

Retrieval here uses only the input, as a deployed system would; the points
stored with the test examples (picked using the golden output) are never shown
to a model during evaluation. Every metric gets a bootstrap interval, every
pair of systems a paired comparison; a judge (when configured) adds grades and
position-swapped pairwise verdicts; the general-skills probe checks that the
fine-tune did not cost general ability.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.core.errors import StageError
from tunesmith.core.jsonl import read_jsonl, write_jsonl
from tunesmith.core.progress import task
from tunesmith.core.rundir import RunDir
from tunesmith.core.stats import Interval, bootstrap_mean, paired_comparison, with_holm
from tunesmith.data.instruction import chat, render_template
from tunesmith.eval.config import EvalConfig
from tunesmith.eval.judge import judge_pairwise
from tunesmith.eval.metrics.base import MetricContext
from tunesmith.eval.probe import run_probe
from tunesmith.eval.scoring import score_outputs
from tunesmith.knowledge.config import KnowledgeConfig
from tunesmith.knowledge.ingest import ingest
from tunesmith.knowledge.rag import Retrieved, RuntimeRag, relevance_threshold
from tunesmith.models.generation import Chat, Generation, GenerationParams, Generator
from tunesmith.models.journal import Journal, answers_journal
from tunesmith.models.local import LocalGenerator
from tunesmith.models.pool import ModelPool
from tunesmith.models.shared_calls import Ask, generate_shared
from tunesmith.models.spec import parse_model_ref

FINETUNED_ADAPTER = "finetuned"


@dataclass
class EvalResult:
    run: RunDir
    systems: list[str]
    scores: dict[str, dict[str, Interval]]
    comparisons: list[dict[str, Any]]
    summary: dict[str, Any]


@dataclass
class SystemRun:
    name: str
    chats: list[Chat]
    generations: list[Generation]
    uses_rag: bool
    generator: Generator
    adapter: str | None


def run(
    cfg: EvalConfig,
    *,
    base: Any,
    system_prompt: str,
    knowledge: KnowledgeConfig,
    data_dir: Path,
    adapter_dir: Path | None,
    baseline: dict[str, Any] | None,
    project_dir: Path,
    run_dir: RunDir,
    pool: ModelPool,
) -> EvalResult:
    test = _test_split(data_dir, cfg.limit)
    systems = [s for s in cfg.systems if _available(s, adapter_dir, baseline)]
    if not systems:
        raise StageError(
            "no system to evaluate", where="eval.systems", fix="Run `tunesmith train` and `tunesmith baseline` first."
        )
    tool_turns = [tool_turn(r) for r in test]
    inputs = [
        t.input if t else r["meta"]["input"] if "input" in r.get("meta", {}) else _last_user(r)
        for r, t in zip(test, tool_turns, strict=True)
    ]
    references = [
        t.reference if t else r["meta"]["output"] if "output" in r.get("meta", {}) else r["messages"][-1]["content"]
        for r, t in zip(test, tool_turns, strict=True)
    ]
    baseline_rag = bool(baseline and baseline["template_def"].get("retrieval"))
    needs_rag = any(s.endswith("+rag") for s in systems) or ("baseline" in systems and baseline_rag)
    threshold = _relevance_threshold(knowledge, data_dir)
    retrieved = _retrieve(knowledge, project_dir, inputs, threshold) if needs_rag else None
    points = [[p.text for p in r.points] for r in retrieved] if retrieved else [[] for _ in inputs]

    base_generator = pool.local(base)
    finetuned = _finetuned(pool, base, base_generator, adapter_dir)
    params = GenerationParams(max_new_tokens=cfg.max_new_tokens)
    planned = [
        _plan(system, inputs, points, finetuned, base_generator, baseline, system_prompt, pool, tool_turns)
        for system in systems
    ]
    journal = answers_journal(base, project_dir) if cfg.cache_answers else None
    runs = _generate(planned, params, base_generator, journal)

    judge = pool.get(cfg.judge) if cfg.judge is not None else None
    support = [[p["chunk_id"] for p in r.get("meta", {}).get("support", [])] for r in test]
    per_system_scores, rows = _score(
        cfg, runs, test, inputs, references, retrieved, support, knowledge, judge, run_dir, tool_turns
    )

    def interval(values: list[float]) -> Interval:
        return bootstrap_mean(values, resamples=cfg.bootstrap, confidence=cfg.confidence, seed=cfg.seed)

    def compare(system: str, other: str, metric: str, a: list[float], b: list[float]) -> dict[str, Any]:
        return paired_comparison(
            system, other, metric, a, b, resamples=cfg.bootstrap, confidence=cfg.confidence, seed=cfg.seed
        ).to_dict()

    intervals = {s: {m: interval(v) for m, v in scores.items()} for s, scores in per_system_scores.items()}
    # the grid's comparisons are one family: Holm's correction keeps "significant" honest across all of them
    comparisons = with_holm(
        [
            compare(b, a, metric, per_system_scores[b][metric], per_system_scores[a][metric])
            for a, b in itertools.combinations(systems, 2)
            for metric in cfg.metrics
        ],
        confidence=cfg.confidence,
    )
    pairwise = _pairwise(cfg, judge, inputs, runs, interval)
    probe = None
    if cfg.probe:
        tuned = finetuned if adapter_dir else None
        probe = _probe(cfg, base, project_dir, knowledge.embedder_spec, base_generator, tuned, interval, compare)

    write_jsonl(run_dir.path("outputs.jsonl"), rows)
    run_dir.write_json("scores.json", {s: {m: i.to_dict() for m, i in ms.items()} for s, ms in intervals.items()})
    run_dir.write_json("comparisons.json", comparisons)
    summary = summarize(cfg, intervals, comparisons, rows, n=len(test))
    summary["metric_info"] = _metric_info(cfg.metrics)
    groups = _by_source(cfg, test, per_system_scores, interval, compare)
    if len(groups) > 1:
        summary["by_source"] = groups
    if retrieved is not None:
        used = sum(r.used for r in retrieved)
        summary["retrieval"] = {"relevance_threshold": threshold, "used": used, "skipped": len(retrieved) - used}
    if pairwise:
        summary["pairwise"] = pairwise
    if probe:
        summary["probe"] = probe["summary"]
        write_jsonl(run_dir.path("probe.jsonl"), probe["rows"])
    run_dir.write_json("summary.json", summary)
    run_dir.record_inputs(
        data_run=str(data_dir), adapter=str(adapter_dir) if adapter_dir else None, test_examples=len(test)
    )
    return EvalResult(run=run_dir, systems=systems, scores=intervals, comparisons=comparisons, summary=summary)


def _test_split(data_dir: Path, limit: int | None) -> list[dict[str, Any]]:
    test = read_jsonl(data_dir / "test.jsonl")[:limit] if limit else read_jsonl(data_dir / "test.jsonl")
    if not test:
        raise StageError(
            "the test split is empty",
            where=str(data_dir / "test.jsonl"),
            fix="Raise data.split.test or add golden outputs, then rebuild the data.",
        )
    return test


def _relevance_threshold(knowledge: KnowledgeConfig, data_dir: Path) -> float | None:
    """The relevance gate as the data build calibrated it (``knowledge.relevance: auto``), or as set."""
    manifest = data_dir / "manifest.json"
    recorded = json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else None
    return relevance_threshold(knowledge.relevance, recorded)


def _retrieve(
    knowledge: KnowledgeConfig, project_dir: Path, inputs: list[str], threshold: float | None
) -> list[Retrieved]:
    """Per input, what retrieval puts into its prompt from the input alone, as a deployed system would: none
    where nothing retrieved is relevant enough (the relevance gate)."""
    ingest(knowledge, project_dir)
    return RuntimeRag.open(knowledge, project_dir, min_relevance=threshold).retrieve(inputs)


def _finetuned(
    pool: ModelPool, base: Any, base_generator: LocalGenerator, adapter_dir: Path | None
) -> tuple[LocalGenerator, str | None]:
    """(generator, adapter) that answers as the fine-tuned model: an adapter on the base, or a full model
    (the fine-tuned systems and the general-skills probe ask it)."""
    if adapter_dir is None:
        return base_generator, None
    if (adapter_dir / "adapter_config.json").is_file():
        base_generator.add_adapter(FINETUNED_ADAPTER, adapter_dir)
        return base_generator, FINETUNED_ADAPTER
    # a fully fine-tuned model: its own weights, loaded beside the base
    return pool.local(base.model_copy(update={"id": str(adapter_dir), "name": "finetuned"})), None


def _score(
    cfg: EvalConfig,
    runs: dict[str, SystemRun],
    test: list[dict[str, Any]],
    inputs: list[str],
    references: list[str],
    retrieved: list[Retrieved] | None,
    support: list[list[str]],
    knowledge: KnowledgeConfig,
    judge: Generator | None,
    run_dir: RunDir,
    tool_turns: list[ToolTurn | None] | None = None,
) -> tuple[dict[str, dict[str, list[float]]], list[dict[str, Any]]]:
    """Every metric for every system, per example; and the outputs' rows."""
    rows: list[dict[str, Any]] = []
    per_system: dict[str, dict[str, list[float]]] = {}
    turns = tool_turns or [None for _ in test]
    for system, result in runs.items():
        shown = [[p.to_dict() for p in r.points] for r in retrieved] if result.uses_rag and retrieved else None
        ctx = MetricContext(
            inputs=inputs,
            contexts=[[p["text"] for p in pts] for pts in shown] if shown else [[] for _ in test],
            context_points=shown,
            support=support,
            style=cfg.style,
            format=cfg.format,
            embedder=knowledge.embedder_spec,
            generations=result.generations,
            chats=result.chats,
            scorer=_scorer(result),
            judge=judge,
            rubric=cfg.rubric,
            groundedness_threshold=cfg.groundedness_threshold,
            extra={
                "tool_reference": [t.calls if t else None for t in turns],
                "tool_schemas": [t.schemas() if t else None for t in turns],
            },
        )
        with task(f"Scoring {system}", None):
            scores = score_outputs(cfg.metrics, [g.text for g in result.generations], references, ctx)
        per_system[system] = scores
        for i, (record, generation) in enumerate(zip(test, result.generations, strict=True)):
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
                    **({"from_cache": True} if generation.extra.get("cached") else {}),
                    "citations": shown[i] if shown else [],
                    "retrieval": retrieved[i].extension(None) if result.uses_rag and retrieved else None,
                    **({"tool_calls": generation.tool_calls} if turns[i] else {}),
                    "scores": {m: v[i] for m, v in scores.items()},
                }
            )
        run_dir.log_metrics(system=system, **{m: _mean(v) for m, v in scores.items()})
    return per_system, rows


def _scorer(result: SystemRun) -> Any:
    """The reference likelihood of a local system's model (for perplexity); None for an endpoint."""
    if not isinstance(result.generator, LocalGenerator):
        return None
    generator, adapter = result.generator, result.adapter

    def scorer(chats: list[Chat], refs: list[str]) -> list[float]:
        return generator.score(chats, refs, adapter=adapter)

    return scorer


@dataclass
class ToolTurn:
    """The evaluated point of a conversation that declares tools: its first assistant turn (a call, or a reply
    without one), given every message before it."""

    prefix: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    calls: list[dict[str, Any]]  # the reference's calls ([] when it answers in words)
    input: str
    reference: str  # the reference turn as text: its words, or its calls as JSON

    def schemas(self) -> dict[str, Any]:
        return {t["function"]["name"]: t["function"].get("parameters") for t in self.tools}


def tool_turn(record: dict[str, Any]) -> ToolTurn | None:
    if not record.get("tools"):
        return None
    messages = record["messages"]
    first = next(i for i, m in enumerate(messages) if m["role"] == "assistant")
    turn = messages[first]
    calls = turn.get("tool_calls") or []
    text = turn.get("content") or json.dumps(
        [{"name": c["function"]["name"], "arguments": c["function"]["arguments"]} for c in calls]
    )
    user = next((m["content"] for m in reversed(messages[:first]) if m["role"] == "user"), "")
    return ToolTurn(messages[:first], record["tools"], calls, user, text)


def _tool_chat(turn: ToolTurn, system_prompt: str | None, points: list[str] | None) -> Any:
    from tunesmith.data.instruction import user_turn
    from tunesmith.models.generation import ToolChat

    messages = [dict(m) for m in turn.prefix]
    if messages[0]["role"] != "system" and system_prompt:
        messages.insert(0, {"role": "system", "content": system_prompt})
    if points:
        last = max(i for i, m in enumerate(messages) if m["role"] == "user")
        messages[last] = {**messages[last], "content": user_turn(messages[last]["content"], points)}
    return ToolChat(messages, turn.tools)


def _last_user(record: dict[str, Any]) -> str:
    return next(m["content"] for m in reversed(record["messages"]) if m["role"] == "user")


def _mean(values: list[float]) -> float:
    real = [v for v in values if v == v]
    return sum(real) / len(real) if real else float("nan")


def _available(system: str, adapter_dir: Path | None, baseline: dict[str, Any] | None) -> bool:
    if system.startswith("finetuned"):
        return adapter_dir is not None
    if system == "baseline":
        return baseline is not None
    return True


@dataclass
class _Planned:
    """One system's prompts and the model (and adapter) that answers them."""

    system: str
    chats: list[Chat]
    uses_rag: bool
    generator: Generator
    adapter: str | None


def _plan(
    system: str,
    inputs: list[str],
    points: list[list[str]],
    finetuned: tuple[LocalGenerator, str | None],
    base: LocalGenerator,
    baseline: dict[str, Any] | None,
    system_prompt: str,
    pool: ModelPool,
    tool_turns: list[ToolTurn | None] | None = None,
) -> _Planned:
    turns = tool_turns or [None for _ in inputs]
    if system == "baseline":
        assert baseline is not None
        template = baseline["template_def"]
        shots = [(s[0], s[1]) for s in baseline.get("shots", [])]
        rag = bool(template.get("retrieval"))
        prompt = template.get("system") if template.get("system") is not None else (system_prompt or None)
        chats = [
            _tool_chat(turns[i], prompt, points[i] if rag else None)
            if turns[i]
            else render_template(
                system=prompt,
                user=template.get("user", "{input}"),
                input_text=text,
                points=points[i] if rag else None,
                shots=shots,
            )
            for i, text in enumerate(inputs)
        ]
        return _Planned(system, chats, rag, pool.get(parse_model_ref(baseline["model_ref"])), None)
    rag = system.endswith("+rag")
    chats = [
        _tool_chat(turns[i], system_prompt or None, points[i] if rag else None)
        if turns[i]
        else chat(system_prompt or None, text, points[i] if rag else None)
        for i, text in enumerate(inputs)
    ]
    generator, adapter = finetuned if system.startswith("finetuned") else (base, None)
    return _Planned(system, chats, rag, generator, adapter)


def _generate(
    planned: list[_Planned], params: GenerationParams, base: Generator | None = None, journal: Journal | None = None
) -> dict[str, SystemRun]:
    """Every system's answers; systems of one model and adapter share a call while they fit its batch, and
    ``journal``, the answers cache of the ``base`` model, gives what it already said (`models.shared_calls`)."""
    asks = [Ask(plan.system, plan.chats, plan.generator, plan.adapter) for plan in planned]
    answered = generate_shared(
        asks,
        params,
        title=lambda group: "Eval " + ", ".join(a.label for a in group),
        journal_of=lambda ask: journal if journal is not None and ask.generator is base else None,
        step="eval",
    )
    runs: dict[str, SystemRun] = {}
    for plan, answers in zip(planned, answered, strict=True):
        if isinstance(plan.generator, LocalGenerator):
            plan.generator.parse_calls(plan.chats, answers.generations)
        runs[plan.system] = SystemRun(
            plan.system, plan.chats, answers.generations, plan.uses_rag, plan.generator, plan.adapter
        )
    return runs


def _pairwise(
    cfg: EvalConfig, judge: Generator | None, inputs: list[str], runs: dict[str, SystemRun], interval: Any
) -> dict[str, Any] | None:
    if cfg.pairwise is None or judge is None or cfg.pairwise.against not in runs:
        return None
    other = [g.text for g in runs[cfg.pairwise.against].generations]
    out: dict[str, Any] = {"against": cfg.pairwise.against, "win_rate": {}}
    for system in cfg.pairwise.systems:
        if system not in runs:
            continue
        with task(f"Judging {system} vs {cfg.pairwise.against}", None):
            wins = judge_pairwise(judge, inputs, [g.text for g in runs[system].generations], other, cfg.rubric)
        out["win_rate"][system] = interval(wins).to_dict()
    return out


def _probe(
    cfg: EvalConfig,
    base_ref: Any,
    project_dir: Path,
    embedder: str,
    base: LocalGenerator,
    finetuned: tuple[LocalGenerator, str | None] | None,
    interval: Any,
    compare: Any,
) -> dict[str, Any]:
    from tunesmith.knowledge.embed import load_embedder

    with task("General-skills probe", None):
        return run_probe(
            base,
            finetuned,
            journal=answers_journal(base_ref, project_dir),
            embedder=load_embedder(embedder),
            interval=interval,
            compare=compare,
        )


PAIRS = (("finetuned+rag", "finetuned"), ("finetuned", "baseline"), ("base+rag", "base"))


def _by_source(
    cfg: EvalConfig,
    test: list[dict[str, Any]],
    scores: dict[str, dict[str, list[float]]],
    interval: Any,
    compare: Any,
) -> dict[str, dict[str, Any]]:
    """The primary metric per source file of the test examples, with the paired differences that say where a
    system helps and where it hurts (retrieval on policy tickets, say, against declined requests)."""
    source = [str((r.get("meta", {}).get("source") or {}).get("file") or "unknown") for r in test]
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(source)):
        rows = [i for i, s in enumerate(source) if s == name]
        picked = {system: [per[cfg.primary][i] for i in rows] for system, per in scores.items()}
        group: dict[str, Any] = {
            "examples": len(rows),
            "systems": {s: interval(v).to_dict() for s, v in picked.items()},
            "comparisons": {},
        }
        for system, other in PAIRS:
            if system in picked and other in picked:
                found = compare(system, other, cfg.primary, picked[system], picked[other])
                group["comparisons"][f"{system} vs {other}"] = found["diff"]
        out[name] = group
    return out


def _metric_info(names: list[str]) -> dict[str, dict[str, Any]]:
    from tunesmith.eval.metrics.plugins import get_metric

    info = {}
    for name in names:
        metric = get_metric(name)
        info[name] = {
            "description": metric.description,
            "higher_is_better": metric.higher_is_better,
            "range": [metric.low, metric.high],
        }
    return info


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
    from tunesmith.eval.metrics.plugins import get_metric

    sign = 1 if get_metric(primary).higher_is_better else -1
    best = max(intervals, key=lambda s: sign * intervals[s][primary].mean)
    headline = None
    if "finetuned" in intervals and "baseline" in intervals:
        headline = find_comparison(comparisons, "finetuned", "baseline", primary)
    tokens = {}
    lengths = {}
    for system in intervals:
        sys_rows = [r for r in rows if r["system"] == system]
        tokens[system] = {
            "prompt_tokens": sum(r["prompt_tokens"] for r in sys_rows) / len(sys_rows),
            "completion_tokens": sum(r["completion_tokens"] for r in sys_rows) / len(sys_rows),
            "stopped": sum(r["finish_reason"] == "stop" for r in sys_rows) / len(sys_rows),
        }
        lengths[system] = [r["completion_tokens"] for r in sys_rows]
    return {
        "primary": primary,
        "test_examples": n,
        "systems": systems,
        "best_system": best,
        "finetuned_vs_baseline": headline,
        "tokens": tokens,
        "output_lengths": lengths,
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
