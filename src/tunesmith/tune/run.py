"""`tunesmith tune`: an Optuna study over the training settings, scored on the validation split, aimed at the gate.

Each trial trains with the sampled settings (a normal training run, recorded in
`runs/`; the settings are a typed copy of the project's `train:` section),
reports the validation loss at every evaluation so the pruner can stop a poor
trial early, then answers the validation examples and is scored with the
project's primary metric: the objective (or several, for a Pareto front). With
the gate as constraints (the default), each trial is also held to every gate
check that validation data can decide (tune/constraints.py), and the best trial
is the best one that would pass them. The test split is never touched, so the
final evaluation stays unbiased.

The first trial is the project's current configuration, so the report can say
how much the search improved on it, with a paired bootstrap interval over the
same validation examples. The study lives in SQLite in the project by default;
with a PostgreSQL URL several workers, on several machines, share one study.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tunesmith.core.atomic import atomic_write_text
from tunesmith.core.deps import require
from tunesmith.core.progress import note
from tunesmith.core.rundir import RunDir
from tunesmith.eval.config import EvalConfig
from tunesmith.gate.config import GatesConfig
from tunesmith.knowledge.config import KnowledgeConfig
from tunesmith.models.spec import LocalModelRef
from tunesmith.registry.config import TrackingConfig
from tunesmith.train.config import TrainConfig
from tunesmith.tune.config import TuneConfig
from tunesmith.tune.report import report, report_html
from tunesmith.tune.study import (
    check_space,
    default_params,
    hold_to,
    masked,
    open_study,
    resolve_auto,
    stop_when_full,
    storage_url,
    suggest,
)
from tunesmith.tune.trial import TrialEvaluator, TrialTrainer, baseline_validation_scores, verdicts_json


def directions_of(objectives: list[str]) -> list[str]:
    """Maximize, except metrics that are better low (prompt tokens, latency, perplexity)."""
    from tunesmith.eval.metrics.plugins import get_metric

    return ["maximize" if o == "retention" or get_metric(o).higher_is_better else "minimize" for o in objectives]


def run(
    cfg: TuneConfig,
    *,
    train: TrainConfig,
    base: LocalModelRef,
    eval_cfg: EvalConfig,
    knowledge: KnowledgeConfig,
    gates: GatesConfig,
    tracking: TrackingConfig,
    project_name: str,
    project_dir: Path,
    data_run: RunDir,
    run_dir: RunDir,
    timeout_s: float | None = None,
    enqueue_default: bool = True,
) -> dict[str, Any]:
    """Run trials until the study has ``cfg.trials`` finished ones (counting other workers'), or ``timeout_s``
    has passed, then report. ``enqueue_default``: the project's own settings as trial 0 (when in the space)."""
    optuna = require("optuna", purpose="hyperparameter search")
    check_space(cfg.search_space)
    metric = cfg.metric or eval_cfg.primary
    objectives = [metric] + [o for o in cfg.objectives if o != metric]
    _trust_judge(cfg, objectives, eval_cfg, gates, project_dir)
    directions = directions_of(objectives)
    study = open_study(cfg, project_dir, project_name, directions=directions)
    defaults = (
        default_params(cfg, train, resolve_auto(cfg, train, base, project_dir, data_run)) if enqueue_default else None
    )
    if defaults is not None and not study.trials:
        study.enqueue_trial(defaults, user_attrs={"default": True})
    storage = masked(storage_url(cfg, project_dir))
    run_dir.record_inputs(data_run=data_run.id, study=study.study_name, storage=storage)
    trainer = TrialTrainer(
        base=base, project_dir=project_dir, data_run=data_run, tracking=tracking, project_name=project_name
    )
    evaluator = TrialEvaluator(
        cfg,
        objectives=objectives,
        base=base,
        project_dir=project_dir,
        data_run=data_run,
        eval_cfg=eval_cfg,
        knowledge=knowledge,
        gates=gates,
        baseline_scores=baseline_validation_scores(project_dir, metric),
    )

    def objective(trial: Any) -> float | list[float]:
        params = suggest(trial, cfg.search_space)
        note(f"trial {trial.number}: {params}")
        trial_cfg = train.updated(where=f"tune trial {trial.number}", **params)
        train_run, adapter = trainer.train(trial, trial_cfg, prune=len(objectives) == 1)
        result = evaluator.evaluate(trial.number, adapter)
        trial.set_user_attr("scores", result.scores)
        if result.retention is not None:
            trial.set_user_attr("retention", round(result.retention, 6))
        if evaluator.held:
            hold_to(trial, verdicts_json(result.verdicts))
            failed = [v.name for v in result.verdicts if not v.passed]
            note(
                f"trial {trial.number}: "
                + (f"fails {', '.join(failed)} on validation" if failed else "meets the gate on validation")
            )
        trainer.record_score(
            train_run, adapter, {f"tune_{o}": v for o, v in zip(objectives, result.values, strict=True)}
        )
        return result.values[0] if len(result.values) == 1 else result.values

    started = time.perf_counter()
    states = (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    remaining = cfg.trials - len(study.get_trials(deepcopy=False, states=states))
    if remaining > 0:  # a worker that joins a full study only reports it
        study.optimize(
            objective, callbacks=[stop_when_full(cfg.trials)], n_trials=remaining, timeout=timeout_s, catch=()
        )
    summary = report(study, objectives=objectives, directions=directions, storage=storage)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    run_dir.write_json("report.json", summary)
    atomic_write_text(run_dir.path("report.html"), report_html(summary))
    return summary


def _trust_judge(
    cfg: TuneConfig, objectives: list[str], eval_cfg: EvalConfig, gates: GatesConfig, project_dir: Path
) -> None:
    """A study that optimizes (or is held to a gate on) a judge's metric needs a judge people agree with:
    checked before the first trial, not after hours of training."""
    from tunesmith.eval.calibration import judge_metrics, require_trusted_judge

    judged = judge_metrics(eval_cfg)
    used = [o for o in objectives if o in judged]
    if used:
        require_trusted_judge(project_dir, eval_cfg, f"the tuning objective {used[0]}")
    if cfg.constraints == "gate":
        held = [c for c in gates.checks if c.metric in judged]
        if held:
            require_trusted_judge(project_dir, eval_cfg, f"the gate check '{held[0].name}' the study is held to")
