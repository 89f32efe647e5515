"""One trial: train with the sampled settings, then measure what the gate will ask, on validation data only.

``TrialTrainer`` makes a normal training run folder (marked with its trial), pruned on validation loss.
``TrialEvaluator`` loads the base model once for the whole study and, per trial, attaches the trial's
adapter, answers the validation prompts as each needed system (with or without runtime retrieval), scores
them, and holds the trial to the gate's checks (tune/constraints.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.core.deps import require
from tunesmith.core.errors import ConfigError
from tunesmith.core.jsonl import read_jsonl
from tunesmith.core.rundir import RunDir
from tunesmith.data.instruction import chat, split_user_turn
from tunesmith.eval.config import EvalConfig
from tunesmith.gate.config import GatesConfig
from tunesmith.knowledge.config import KnowledgeConfig
from tunesmith.models.spec import LocalModelRef
from tunesmith.registry.config import TrackingConfig
from tunesmith.train.config import TrainConfig
from tunesmith.tune import constraints as gate_checks
from tunesmith.tune.config import TuneConfig


@dataclass
class ValidationSet:
    """The validation examples a trial answers: ids, inputs, references, and the system prompt they carry."""

    ids: list[str]
    inputs: list[str]
    references: list[str]
    system: str | None

    @classmethod
    def load(cls, data_run: RunDir, limit: int) -> ValidationSet:
        rows = [r for r in read_jsonl(data_run.path("val.jsonl")) if r["messages"][-1]["role"] == "assistant"][:limit]
        if not rows:
            raise ConfigError(
                "the data build has no validation examples to score trials on",
                where=str(data_run.root),
                fix="Raise data.split.val so the validation split is not empty.",
            )
        inputs = []
        for r in rows:
            user = next(m["content"] for m in reversed(r["messages"]) if m["role"] == "user")
            inputs.append(str(r.get("meta", {}).get("input") or split_user_turn(user)[0]))
        system = next((m["content"] for m in rows[0]["messages"] if m["role"] == "system"), None)
        references = [str(r.get("meta", {}).get("output") or r["messages"][-1]["content"]) for r in rows]
        return cls([str(r.get("id")) for r in rows], inputs, references, system)


@dataclass
class TrialResult:
    values: list[float]  # one per objective
    scores: list[float]  # per validation example, the first objective's metric (for paired intervals)
    verdicts: list[gate_checks.Verdict] = field(default_factory=list)
    retention: float | None = None


class TrialEvaluator:
    def __init__(
        self,
        cfg: TuneConfig,
        *,
        objectives: list[str],
        base: LocalModelRef,
        project_dir: Path,
        data_run: RunDir,
        eval_cfg: EvalConfig,
        knowledge: KnowledgeConfig,
        gates: GatesConfig,
        baseline_scores: dict[str, float],
    ) -> None:
        self.cfg = cfg
        self.objectives = objectives
        self.base = base
        self.project_dir = project_dir
        self.eval_cfg = eval_cfg
        self.knowledge = knowledge
        self.gates = gates
        self.validation = ValidationSet.load(data_run, cfg.val_limit)
        self.baseline = {i: baseline_scores[i] for i in self.validation.ids if i in baseline_scores}
        self.held = cfg.constraints == "gate"
        self.systems = gate_checks.systems_needed(gates, cfg.system) if self.held else [cfg.system]
        self._manifest = data_run.read_json("manifest.json") if data_run.path("manifest.json").is_file() else None
        self._generator: Any = None
        self._points: list[list[str]] | None = None
        self._base_probe: list[float] | None = None

    def generator(self) -> Any:
        if self._generator is None:
            from tunesmith.models.local import LocalGenerator

            self._generator = LocalGenerator.load(self.base, self.project_dir)
        return self._generator

    def evaluate(self, number: int, adapter: Path) -> TrialResult:
        generator = self.generator()
        name = f"trial_{number}"
        generator.add_adapter(name, adapter)
        try:
            outputs = {system: self._answer(system, name) for system in self.systems}
            scores = {system: self._score(system, texts) for system, texts in outputs.items()}
            retention = self._retention(name) if self._wants_retention() else None
            verdicts = self._verdicts(scores, outputs, retention, name) if self.held else []
        finally:
            generator.remove_adapter(name)
        values, first = [], None
        for objective in self.objectives:
            if objective == "retention":
                assert retention is not None
                values.append(retention)
                continue
            per_example = (
                scores[self.cfg.system].get(objective)
                or self._score(self.cfg.system, outputs[self.cfg.system], [objective])[objective]
            )
            first = per_example if first is None else first
            values.append(float(np.nanmean(per_example)))
        return TrialResult(values, [round(float(s), 6) for s in (first or [])], verdicts, retention)

    def _answer(self, system: str, adapter: str) -> list[str]:
        from tunesmith.models.generation import GenerationParams

        points = self._retrieved() if system.endswith("+rag") else [None] * len(self.validation.inputs)
        chats = [
            chat(self.validation.system, text, pts) for text, pts in zip(self.validation.inputs, points, strict=True)
        ]
        params = GenerationParams(max_new_tokens=self.cfg.max_new_tokens)
        return [g.text for g in self.generator().generate(chats, params, adapter=adapter)]

    def _retrieved(self) -> list[list[str]]:
        """Runtime retrieval for the validation inputs (the same for every trial), through the relevance gate."""
        if self._points is None:
            from tunesmith.knowledge.ingest import ingest
            from tunesmith.knowledge.rag import RuntimeRag, relevance_threshold

            ingest(self.knowledge, self.project_dir)
            threshold = relevance_threshold(self.knowledge.relevance, self._manifest)
            rag = RuntimeRag.open(self.knowledge, self.project_dir, min_relevance=threshold)
            self._points = [[p.text for p in r.points] for r in rag.retrieve(self.validation.inputs)]
        return self._points

    def _score(self, system: str, texts: list[str], metrics: list[str] | None = None) -> dict[str, list[float]]:
        from tunesmith.eval.metrics.base import MetricContext
        from tunesmith.eval.scoring import score_outputs

        wanted = metrics or sorted(
            {self.cfg.metric or self.eval_cfg.primary}
            | {o for o in self.objectives if o != "retention"}
            | {c.metric for c in gate_checks.metric_checks(self.gates) if c.system == system and self.held}
        )
        context = MetricContext(
            inputs=self.validation.inputs,
            contexts=self._retrieved() if system.endswith("+rag") else [[] for _ in texts],
            style=self.eval_cfg.style,
            format=self.eval_cfg.format,
            embedder=self.knowledge.embedder_spec,
        )
        return score_outputs(wanted, texts, self.validation.references, context)

    def _wants_retention(self) -> bool:
        return "retention" in self.objectives or (self.held and self.gates.retention is not None)

    def _retention(self, adapter: str) -> float:
        """Probe accuracy, trial minus base, on a fixed subset of the labelled general-skills probe."""
        from tunesmith.eval.probe import answers, correct, load_probe
        from tunesmith.models.journal import answers_journal

        items = load_probe()[:: max(1, len(load_probe()) // self.cfg.probe_items)][: self.cfg.probe_items]
        questions = [i["question"] for i in items]
        if self._base_probe is None:
            said = answers(self.generator(), None, questions, answers_journal(self.base, self.project_dir), items)
            self._base_probe = [float(correct(o, i["answers"])) for o, i in zip(said, items, strict=True)]
        tuned = answers(self.generator(), adapter, questions, items=items)
        self._tuned_probe = [float(correct(o, i["answers"])) for o, i in zip(tuned, items, strict=True)]
        return float(np.mean(self._tuned_probe) - np.mean(self._base_probe))

    def _verdicts(
        self,
        scores: dict[str, dict[str, list[float]]],
        outputs: dict[str, list[str]],
        retention: float | None,
        adapter: str,
    ) -> list[gate_checks.Verdict]:
        gates = self.gates
        verdicts = [gate_checks.judge_metric(c, scores, self.baseline) for c in gate_checks.metric_checks(gates)]
        if gates.retention is not None and retention is not None:
            assert self._base_probe is not None
            verdicts.append(gate_checks.judge_retention(gates.retention.max_drop, self._base_probe, self._tuned_probe))
        requests = gate_checks.refusal_requests(gates, self.project_dir)
        if gates.refusal is not None and requests:
            from tunesmith.models.generation import GenerationParams

            params = GenerationParams(max_new_tokens=gates.refusal.max_new_tokens)
            chats = [chat(self.validation.system, r) for r in requests]
            said = [g.text for g in self.generator().generate(chats, params, adapter=adapter)]
            verdicts.append(gate_checks.judge_refusal(gates.refusal.min_rate, said, gates.refusal.markers))
        if gates.toxicity is not None:
            texts = [t for system_outputs in outputs.values() for t in system_outputs]
            verdicts.append(gate_checks.judge_toxicity(gates.toxicity.threshold, gates.toxicity.max_rate, texts))
        return verdicts


def baseline_validation_scores(project_dir: Path, metric: str) -> dict[str, float]:
    """The chosen baseline's scores on the validation examples, by id (what a margin over it is judged by)."""
    from tunesmith.registry.runs import latest_run

    run = latest_run(project_dir, "baseline")
    if run is None:
        return {}
    chosen = run.read_json("baseline.json")["chosen"]
    rows = read_jsonl(run.path("outputs.jsonl"))
    return {
        str(r["id"]): float(r["scores"][metric])
        for r in rows
        if r["model"] == chosen["model"] and r["template"] == chosen["template"] and metric in r["scores"]
    }


class TrialTrainer:
    """Trains one trial as a normal training run folder (marked with its trial), pruned on validation loss."""

    def __init__(
        self,
        *,
        base: LocalModelRef,
        project_dir: Path,
        data_run: RunDir,
        tracking: TrackingConfig,
        project_name: str,
        parent: RunDir | None = None,
    ) -> None:
        self.base = base
        self.project_dir = project_dir
        self.data_run = data_run
        self.parent = parent
        self._tracking = (tracking, project_name)
        self._tracker: list[Any] = []

    def tracker(self) -> Any:
        from tunesmith.registry.tracking import open_tracker

        if not self._tracker:
            tracking, name = self._tracking
            self._tracker.append(open_tracker(tracking, self.project_dir, name))
        return self._tracker[0]

    def train(self, trial: Any, cfg: TrainConfig, *, prune: bool = True) -> tuple[RunDir, Path]:
        from tunesmith.registry.runs import runs_root
        from tunesmith.train.run import run as train

        run_dir = RunDir.create(runs_root(self.project_dir), "train", cfg.model_dump(mode="json"))
        run_dir.record_inputs(
            data_run=self.data_run.id,
            dataset_version=self.data_run.info["inputs"].get("dataset_version"),
            base_model=self.base.id,
            recipe=cfg.recipe,
            tune_trial=trial.number,
            **({"remedy_of": self.parent.id} if self.parent is not None else {}),
        )
        trial.set_user_attr("train_run", run_dir.id)
        with run_dir.running() as outcome:
            result = train(
                cfg,
                base=self.base,
                data_dir=self.data_run.root,
                project_dir=self.project_dir,
                run_dir=run_dir,
                callbacks=[pruning_callback(trial)] if prune else [],
            )
            outcome.summary = {"recipe": cfg.recipe, **result.summary()}
        return run_dir, Path(result.adapter)

    def record_score(self, run_dir: RunDir, adapter: Path, scores: dict[str, Any]) -> None:
        """The trial's training run, in its folder and in MLflow, with the score it earned."""
        from tunesmith.registry.tracking import log_quietly

        run_dir.update_summary(**scores)
        log_quietly(self.tracker, run_dir, weights=adapter)


def pruning_callback(trial: Any) -> Any:
    """Reports the validation loss to Optuna at every evaluation and stops a trial its pruner gives up on."""
    optuna = require("optuna")
    from transformers import TrainerCallback

    class Prune(TrainerCallback):  # type: ignore[misc]
        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **kw: Any) -> None:
            if metrics and "eval_loss" in metrics:
                # the study maximizes; a lower loss is better
                trial.report(-float(metrics["eval_loss"]), state.global_step)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"validation loss {metrics['eval_loss']:.4f} at step {state.global_step}")

    return Prune()


def verdicts_json(verdicts: list[gate_checks.Verdict]) -> list[dict[str, Any]]:
    return json.loads(json.dumps([v.to_dict() for v in verdicts]))
