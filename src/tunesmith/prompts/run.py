"""`tunesmith baseline`: prompt templates x candidate models on the validation split.

The leaderboard shows for every (model, template) the primary metric with its
interval, the other metrics, prompt and output tokens, latency and an estimated
cost per 1,000 requests, so the later comparison with a fine-tuned model (which
needs no long prompt) is about money as well as quality. The baseline is picked
by the declared rule and recorded with its exact few-shot examples, so the
evaluation reruns precisely the same prompt.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.core.errors import DataError
from tunesmith.core.jsonl import write_jsonl
from tunesmith.core.rundir import RunDir
from tunesmith.core.stats import bootstrap_mean
from tunesmith.data.clean import drop_exact_duplicates
from tunesmith.data.config import GoldenConfig, SplitConfig
from tunesmith.data.golden import GoldenRow, read_golden, split_golden
from tunesmith.data.instruction import render_template
from tunesmith.eval.config import EvalConfig
from tunesmith.eval.metrics.base import MetricContext
from tunesmith.eval.scoring import score_outputs
from tunesmith.knowledge.config import KnowledgeConfig
from tunesmith.knowledge.ingest import ingest
from tunesmith.knowledge.rag import RuntimeRag
from tunesmith.models.generation import Chat, GenerationParams
from tunesmith.models.journal import answers_journal
from tunesmith.models.pool import ModelPool
from tunesmith.models.shared_calls import Answered, Ask, generate_shared
from tunesmith.models.spec import EndpointModelRef, LocalModelRef
from tunesmith.prompts.config import BaselineConfig, PromptTemplate

LEADERBOARD_KEYS = (
    "model",
    "template",
    "score",
    "prompt_tokens",
    "output_tokens",
    "seconds_per_request",
    "cost_per_1k_requests",
)


@dataclass
class BaselineResult:
    run: RunDir
    leaderboard: list[dict[str, Any]]
    chosen: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """What the baseline run's run.json records: the pick, and the leaderboard in brief."""
        return {
            **{k: self.chosen[k] for k in ("model", "template", "score", "prompt_tokens", "latency_s")},
            "leaderboard": [{k: e[k] for k in LEADERBOARD_KEYS} for e in self.leaderboard],
        }


def validation_rows(
    golden: GoldenConfig, split: SplitConfig, project_dir: Path, *, near_threshold: float | None
) -> tuple[list[GoldenRow], list[GoldenRow]]:
    """(validation rows, training rows) exactly as the data stage splits them."""
    rows, _ = read_golden(golden, project_dir)
    rows, _ = drop_exact_duplicates(rows, key=lambda r: f"{r.input}\n{r.output}")
    split_of = split_golden(rows, split, near_threshold=near_threshold)
    val = [r for r, s in zip(rows, split_of, strict=True) if s == "val"]
    train = [r for r, s in zip(rows, split_of, strict=True) if s == "train"]
    return val, train


def run(
    cfg: BaselineConfig,
    *,
    candidates: list[LocalModelRef | EndpointModelRef],
    system_prompt: str,
    golden: GoldenConfig,
    split: SplitConfig,
    near_threshold: float | None,
    knowledge: KnowledgeConfig,
    eval_cfg: EvalConfig,
    project_dir: Path,
    run_dir: RunDir,
    pool: ModelPool,
) -> BaselineResult:
    val, train = validation_rows(golden, split, project_dir, near_threshold=near_threshold)
    if not val:
        raise DataError(
            "the validation split is empty, so there is nothing to pick a baseline on",
            where=str(project_dir / golden.path),
            fix="Add golden outputs or raise data.split.val.",
        )
    val = val[: cfg.limit] if cfg.limit else val
    inputs = [r.input for r in val]
    rag_points: list[list[str]] | None = None
    if any(t.retrieval for t in cfg.templates):
        ingest(knowledge, project_dir)
        rag = RuntimeRag.open(knowledge, project_dir)
        rag_points = [[p.text for p in pts] for pts in rag.points_for(inputs)]

    params = GenerationParams(max_new_tokens=cfg.max_new_tokens)
    leaderboard: list[dict[str, Any]] = []
    outputs_rows: list[dict[str, Any]] = []
    # load (and reach) every candidate before generating anything: an unreachable endpoint
    # should fail in seconds, not after the local models have run
    generators = [pool.get(ref) for ref in candidates]
    trials = [
        (ref, generator, template, _shots(train, template.shots))
        for ref, generator in zip(candidates, generators, strict=True)
        for template in cfg.templates
    ]
    asks = [
        Ask(
            template.name,
            _chats(template, shots, val, rag_points if template.retrieval else None, system_prompt),
            generator,
        )
        for ref, generator, template, shots in trials
    ]
    # templates of one local model share a running batch while they fit it, and a local model's greedy answers
    # come from its answers cache when it already gave them (`models.shared_calls`); each template is charged
    # its share of the decoding time by the tokens it processed
    journals = {
        id(generator): answers_journal(ref, project_dir)
        for ref, generator in zip(candidates, generators, strict=True)
        if isinstance(ref, LocalModelRef) and eval_cfg.cache_answers
    }
    answered = generate_shared(
        asks,
        params,
        title=lambda group: f"Baseline {group[0].generator.name} / " + ", ".join(a.label for a in group),
        journal_of=lambda ask: journals.get(id(ask.generator)),
        step="baseline",
    )
    for (ref, generator, template, shots), ask, answers in zip(trials, asks, answered, strict=True):
        points = rag_points if (template.retrieval and rag_points) else None
        entry, rows = _score(
            ref, generator.name, template, shots, val, ask.chats, answers, points, params, eval_cfg, knowledge
        )
        leaderboard.append(entry)
        outputs_rows += rows
        run_dir.log_metrics(
            model=generator.name,
            template=template.name,
            score=entry["score"]["mean"],
            prompt_tokens=entry["prompt_tokens"],
            latency_s=entry["latency_s"],
        )
    chosen = _select(leaderboard, cfg)
    leaderboard.sort(key=lambda e: -e["score"]["mean"])
    write_jsonl(run_dir.path("outputs.jsonl"), outputs_rows)
    run_dir.write_json(
        "baseline.json", {"chosen": chosen, "leaderboard": leaderboard, "rule": cfg.select, "examples": len(val)}
    )
    run_dir.record_inputs(golden=golden.path, validation_examples=len(val))
    return BaselineResult(run=run_dir, leaderboard=leaderboard, chosen=chosen)


def _chats(
    template: PromptTemplate,
    shots: list[tuple[str, str]],
    val: list[GoldenRow],
    points: list[list[str]] | None,
    system_prompt: str,
) -> list[Chat]:
    return [
        render_template(
            system=template.system if template.system is not None else (system_prompt or None),
            user=template.user,
            input_text=row.input,
            points=points[i] if points else None,
            shots=shots,
        )
        for i, row in enumerate(val)
    ]


def _score(
    ref: LocalModelRef | EndpointModelRef,
    model: str,
    template: PromptTemplate,
    shots: list[tuple[str, str]],
    val: list[GoldenRow],
    chats: list[Chat],
    answers: Answered,
    points: list[list[str]] | None,
    params: GenerationParams,
    eval_cfg: EvalConfig,
    knowledge: KnowledgeConfig,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One candidate with one template on the validation rows: its leaderboard entry and per-row outputs."""
    generations = answers.generations
    ctx = MetricContext(
        inputs=[r.input for r in val],
        contexts=points or [[] for _ in val],
        style=eval_cfg.style,
        format=eval_cfg.format,
        embedder=knowledge.embedder_spec,
        generations=generations,
        chats=chats,
    )
    scores = score_outputs(eval_cfg.metrics, [g.text for g in generations], [r.output for r in val], ctx)
    entry = _entry(ref, model, template, shots, generations, scores, answers.seconds, eval_cfg)
    rows = [
        {
            "id": row.id,
            "model": model,
            "template": template.name,
            "input": row.input,
            "reference": row.output,
            "output": generation.text,
            "scores": {m: v[i] for m, v in scores.items()},
        }
        for i, (row, generation) in enumerate(zip(val, generations, strict=True))
    ]
    return entry, rows


def _entry(
    ref: LocalModelRef | EndpointModelRef,
    model: str,
    template: PromptTemplate,
    shots: list[tuple[str, str]],
    generations: list[Any],
    scores: dict[str, list[float]],
    wall: float,
    eval_cfg: EvalConfig,
) -> dict[str, Any]:
    """One leaderboard row: the primary metric with its interval, every metric's mean, tokens, time and cost."""
    primary = bootstrap_mean(
        scores[eval_cfg.primary], resamples=eval_cfg.bootstrap, confidence=eval_cfg.confidence, seed=eval_cfg.seed
    )
    n = len(generations)
    prompt_tokens = sum(g.prompt_tokens for g in generations) / n
    output_tokens = sum(g.completion_tokens for g in generations) / n
    return {
        "model": model,
        "template": template.name,
        "primary": eval_cfg.primary,
        "score": primary.to_dict(),
        "metrics": {m: sum(v) / len(v) for m, v in scores.items()},
        "prompt_tokens": round(prompt_tokens, 1),
        "output_tokens": round(output_tokens, 1),
        "latency_s": round(sum(g.latency_s for g in generations) / n, 3),
        "seconds_per_request": round(wall / n, 3),
        "cost_per_1k_requests": _cost_per_1k(ref, prompt_tokens, output_tokens, wall / n),
        "model_ref": ref.model_dump(exclude_defaults=True),
        "template_def": template.model_dump(),
        "shots": shots,
    }


def _shots(train: list[GoldenRow], n: int) -> list[tuple[str, str]]:
    """The first n training rows in a fixed (hash) order: the same shots every run."""
    if n == 0:
        return []
    ordered = sorted(train, key=lambda r: hashlib.sha256(r.id.encode()).hexdigest())
    return [(r.input, r.output) for r in ordered[:n]]


def _cost_per_1k(
    ref: LocalModelRef | EndpointModelRef, prompt_tokens: float, output_tokens: float, seconds_per_request: float
) -> float:
    if isinstance(ref, EndpointModelRef):
        per_request = prompt_tokens / 1000 * ref.cost_per_1k_input + output_tokens / 1000 * ref.cost_per_1k_output
    else:
        per_request = ref.cost_per_hour * seconds_per_request / 3600
    return round(per_request * 1000, 4)


def _select(leaderboard: list[dict[str, Any]], cfg: BaselineConfig) -> dict[str, Any]:
    pool = leaderboard
    if cfg.select == "best_within_budget":
        if cfg.max_cost_per_1k is None:
            raise DataError(
                "baseline.select is best_within_budget but baseline.max_cost_per_1k is not set",
                where="baseline.max_cost_per_1k",
                fix="Set a budget per 1,000 requests.",
            )
        pool = [e for e in leaderboard if e["cost_per_1k_requests"] <= cfg.max_cost_per_1k]
        if not pool:
            raise DataError(
                "no model/template fits the cost budget",
                where="baseline.max_cost_per_1k",
                fix="Raise the budget or add cheaper candidates.",
            )
    # ties go to the cheaper prompt: fewer prompt tokens
    return max(pool, key=lambda e: (e["score"]["mean"], -e["prompt_tokens"]))
