"""`tunesmith tune`: an Optuna study over the training settings, scored on the validation split.

Each trial trains with the sampled settings (a normal training run, recorded in
`runs/`), reports the validation loss at every evaluation so the pruner can stop
a poor trial early, then generates answers for the validation examples and
scores them with the project's primary metric: the objective. The test split is
never touched, so the final evaluation stays unbiased.

The first trial is the project's current configuration, so the report can say
how much the search improved on it, with a paired bootstrap interval over the
same validation examples. The study lives in SQLite in the project by default;
with a PostgreSQL URL several workers, on several machines, share one study.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.core.atomic import atomic_write_text
from tunesmith.core.deps import require
from tunesmith.core.errors import ConfigError
from tunesmith.core.jsonl import read_jsonl
from tunesmith.core.progress import note
from tunesmith.core.rundir import RunDir
from tunesmith.core.stats import bootstrap_mean
from tunesmith.eval.config import EvalConfig
from tunesmith.models.spec import LocalModelRef
from tunesmith.registry.config import TrackingConfig
from tunesmith.train.config import TrainConfig
from tunesmith.tune.config import Param, TuneConfig


def storage_url(cfg: TuneConfig, project_dir: Path) -> str:
    if cfg.storage_env:
        url = os.environ.get(cfg.storage_env)
        if not url:
            raise ConfigError(f"the environment variable {cfg.storage_env} is not set", where="tune.storage_env")
        return url
    if cfg.storage:
        return cfg.storage
    folder = project_dir / ".tunesmith" / "tune"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'study.db'}"


def masked(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def check_space(space: dict[str, Param]) -> None:
    fields = TrainConfig.model_fields
    for name in space:
        if name not in fields:
            raise ConfigError(
                f"'{name}' is not a training setting",
                where=f"tune.search_space.{name}",
                fix=f"Use train settings: {', '.join(sorted(fields))}.",
            )


def open_study(cfg: TuneConfig, project_dir: Path, project_name: str, *, load_only: bool = False) -> Any:
    optuna = require("optuna", purpose="hyperparameter search")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = storage_url(cfg, project_dir)
    name = cfg.study or project_name
    if load_only:
        return optuna.load_study(study_name=name, storage=url)
    sampler = (
        optuna.samplers.TPESampler(seed=cfg.seed) if cfg.sampler == "tpe" else optuna.samplers.RandomSampler(cfg.seed)
    )
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
        if cfg.pruner == "median"
        else (optuna.pruners.NopPruner())
    )
    # Workers starting together race to create the storage's tables (PostgreSQL raises on the loser's
    # CREATE TYPE); the tables exist by the time the loser retries.
    attempt = 0
    while True:
        try:
            return optuna.create_study(
                study_name=name, storage=url, direction="maximize", sampler=sampler, pruner=pruner, load_if_exists=True
            )
        except Exception as exc:
            attempt += 1
            lost_race = "already exists" in str(exc) or "UniqueViolation" in type(exc).__name__ + str(exc)
            if not lost_race or attempt >= 6:
                raise
            time.sleep(random.uniform(0.2, 1.0))


def suggest(trial: Any, space: dict[str, Param]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, p in space.items():
        if p.choices is not None:
            # Optuna stores categorical choices as JSON-able scalars; lists (target modules) go as JSON text
            encoded = [json.dumps(c) if isinstance(c, list | dict) else c for c in p.choices]
            value = trial.suggest_categorical(name, encoded)
            params[name] = json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value
        elif float(p.low).is_integer() and float(p.high).is_integer() and not p.log and (p.step or 1) == 1:  # type: ignore[arg-type]
            params[name] = trial.suggest_int(name, int(p.low), int(p.high))  # type: ignore[arg-type]
        else:
            params[name] = trial.suggest_float(name, p.low, p.high, log=p.log, step=p.step)  # type: ignore[arg-type]
    return params


def decode_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: json.loads(v) if isinstance(v, str) and v[:1] in "[{" else v for k, v in params.items()}


def default_params(
    cfg: TuneConfig, train: TrainConfig, resolved: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The project's current values for the searched settings (``auto`` ones as training resolves them),
    when every one is a concrete value inside the space."""
    current = {name: getattr(train, name) for name in cfg.search_space}
    current = {k: (resolved or {}).get(k, v) if v == "auto" else v for k, v in current.items()}
    if any(v == "auto" for v in current.values()):
        return None
    out = {}
    for name, value in current.items():
        p = cfg.search_space[name]
        if p.choices is not None:
            if value not in p.choices:
                return None
            out[name] = json.dumps(value) if isinstance(value, list | dict) else value
        else:
            if not p.low <= float(value) <= p.high:  # type: ignore[operator]
                return None
            out[name] = value
    return out


def _resolve_auto(
    cfg: TuneConfig, train: TrainConfig, base: LocalModelRef, project_dir: Path, data_run: RunDir
) -> dict[str, Any]:
    """What training would pick for the searched settings left at ``auto`` (so the project's own configuration
    can still run as trial 0); reads the base model's config only, never its weights."""
    if not any(getattr(train, name, None) == "auto" for name in cfg.search_space):
        return {}
    from transformers import AutoConfig

    from tunesmith.models.device import pick_device
    from tunesmith.models.resolve import local_path
    from tunesmith.train import defaults
    from tunesmith.train.estimate import count_parameters

    n_params = count_parameters(AutoConfig.from_pretrained(local_path(base, project_dir)))
    n_examples = sum(1 for line in data_run.path("train.jsonl").read_text(encoding="utf-8").splitlines() if line)
    hp = defaults.resolve(train, n_examples=n_examples, n_params=n_params, device=pick_device(base.device))
    return {name: getattr(hp, name) for name in cfg.search_space if hasattr(hp, name)}


def validation_set(data_run: RunDir, limit: int) -> tuple[list[list[dict[str, Any]]], list[str], list[str]]:
    rows = read_jsonl(data_run.path("val.jsonl"))
    rows = [r for r in rows if r["messages"] and r["messages"][-1]["role"] == "assistant"][:limit]
    if not rows:
        raise ConfigError(
            "the data build has no validation examples to score trials on",
            where=str(data_run.root),
            fix="Raise data.split.val so the validation split is not empty.",
        )
    chats = [r["messages"][:-1] for r in rows]
    references = [r["messages"][-1]["content"] for r in rows]
    inputs = [str(r.get("meta", {}).get("input") or r["messages"][-2]["content"]) for r in rows]
    return chats, references, inputs


def run(
    cfg: TuneConfig,
    *,
    train: TrainConfig,
    base: LocalModelRef,
    eval_cfg: EvalConfig,
    embedder: str,
    tracking: TrackingConfig,
    project_name: str,
    project_dir: Path,
    data_run: RunDir,
    run_dir: RunDir,
) -> dict[str, Any]:
    """Run trials until the study has ``cfg.trials`` finished ones (counting other workers'), then report.

    Each trial trains ``train`` updated with the sampled values (a typed copy, validated like the project
    file) on ``data_run``, and is scored with the primary metric on its validation split.
    """
    optuna = require("optuna", purpose="hyperparameter search")
    check_space(cfg.search_space)
    metric = cfg.metric or eval_cfg.primary
    chats, references, inputs = validation_set(data_run, cfg.val_limit)
    study = open_study(cfg, project_dir, project_name)
    defaults = default_params(cfg, train, _resolve_auto(cfg, train, base, project_dir, data_run))
    if defaults is not None and not study.trials:
        study.enqueue_trial(defaults, user_attrs={"default": True})
    storage = masked(storage_url(cfg, project_dir))
    run_dir.record_inputs(data_run=data_run.id, study=study.study_name, storage=storage)
    trainer = TrialTrainer(
        base=base, project_dir=project_dir, data_run=data_run, tracking=tracking, project_name=project_name
    )

    def objective(trial: Any) -> float:
        params = suggest(trial, cfg.search_space)
        note(f"trial {trial.number}: {params}")
        trial_cfg = train.updated(where=f"tune trial {trial.number}", **params)
        train_run, adapter = trainer.train(trial, trial_cfg)
        scores = score_trial(
            metric,
            base=base,
            project_dir=project_dir,
            adapter=adapter,
            chats=chats,
            references=references,
            inputs=inputs,
            eval_cfg=eval_cfg,
            embedder=embedder,
            max_new_tokens=cfg.max_new_tokens,
        )
        trial.set_user_attr("scores", [round(float(s), 6) for s in scores])
        value = float(np.mean(scores))
        trainer.record_score(train_run, adapter, {f"tune_{metric}": value})
        return value

    started = time.perf_counter()
    states = (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    remaining = cfg.trials - len(study.get_trials(deepcopy=False, states=states))
    if remaining > 0:  # a worker that joins a full study only reports it
        study.optimize(objective, callbacks=[_stop_when_full(cfg.trials)], n_trials=remaining, catch=())
    summary = report(study, metric=metric, storage=storage)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    run_dir.write_json("report.json", summary)
    atomic_write_text(run_dir.path("report.html"), report_html(summary))
    return summary


def score_trial(
    metric: str,
    *,
    base: LocalModelRef,
    project_dir: Path,
    adapter: Path,
    chats: list[list[dict[str, Any]]],
    references: list[str],
    inputs: list[str],
    eval_cfg: EvalConfig,
    embedder: str,
    max_new_tokens: int,
) -> list[float]:
    """The trial's answers to the validation prompts, scored with ``metric``."""
    from tunesmith.eval.metrics.base import MetricContext
    from tunesmith.eval.scoring import score_outputs
    from tunesmith.models.generation import GenerationParams
    from tunesmith.models.local import LocalGenerator

    generator = LocalGenerator.load(base, project_dir)
    generator.add_adapter("trial", adapter)
    outputs = generator.generate(chats, GenerationParams(max_new_tokens=max_new_tokens), adapter="trial")
    context = MetricContext(
        inputs=inputs,
        contexts=[[] for _ in inputs],
        style=eval_cfg.style,
        format=eval_cfg.format,
        embedder=embedder,
    )
    return score_outputs([metric], [o.text for o in outputs], references, context)[metric]


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
    ) -> None:
        self.base = base
        self.project_dir = project_dir
        self.data_run = data_run
        self._tracking = (tracking, project_name)
        self._tracker: list[Any] = []

    def tracker(self) -> Any:
        from tunesmith.registry.tracking import open_tracker

        if not self._tracker:
            tracking, name = self._tracking
            self._tracker.append(open_tracker(tracking, self.project_dir, name))
        return self._tracker[0]

    def train(self, trial: Any, cfg: TrainConfig) -> tuple[RunDir, Path]:
        from tunesmith.registry.runs import runs_root
        from tunesmith.train.run import run as train

        run_dir = RunDir.create(runs_root(self.project_dir), "train", cfg.model_dump(mode="json"))
        run_dir.record_inputs(
            data_run=self.data_run.id,
            dataset_version=self.data_run.info["inputs"].get("dataset_version"),
            base_model=self.base.id,
            recipe=cfg.recipe,
            tune_trial=trial.number,
        )
        with run_dir.running() as outcome:
            result = train(
                cfg,
                base=self.base,
                data_dir=self.data_run.root,
                project_dir=self.project_dir,
                run_dir=run_dir,
                callbacks=[pruning_callback(trial)],
            )
            outcome.summary = {
                "recipe": cfg.recipe,
                "adapter": str(result.adapter),
                "final_val_loss": result.final_val_loss,
            }
        trial.set_user_attr("train_run", run_dir.id)
        return run_dir, Path(result.adapter)

    def record_score(self, run_dir: RunDir, adapter: Path, scores: dict[str, float]) -> None:
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


def _stop_when_full(trials: int) -> Callable[[Any, Any], None]:
    """Stop this worker once the study has ``trials`` finished or running trials, whoever runs them (Optuna's
    MaxTrialsCallback counts only finished ones, so a worker would start one trial too many)."""
    optuna = require("optuna")
    counted = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.RUNNING)

    def callback(study: Any, trial: Any) -> None:
        if len(study.get_trials(deepcopy=False, states=counted)) >= trials:
            study.stop()

    return callback


def paired_interval(a: list[float], b: list[float]) -> dict[str, float]:
    return bootstrap_mean(list(np.asarray(a) - np.asarray(b))).rounded()


def report(study: Any, *, metric: str, storage: str) -> dict[str, Any]:
    optuna = require("optuna")
    trials = []
    for t in study.trials:
        duration = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else None
        )
        trials.append(
            {
                "number": t.number,
                "state": t.state.name.lower(),
                # a pruned trial's value is Optuna's last intermediate (minus the validation loss), not the metric
                "value": None if t.value is None or t.state.name != "COMPLETE" else round(t.value, 6),
                "params": decode_params(t.params),
                "train_run": t.user_attrs.get("train_run"),
                "default": bool(t.user_attrs.get("default")),
                "seconds": None if duration is None else round(duration, 1),
                "intermediate": {str(k): round(v, 6) for k, v in t.intermediate_values.items()},
            }
        )
        if t.state.name == "PRUNED" and t.intermediate_values:
            step = max(t.intermediate_values)
            trials[-1]["pruned_at"] = {"step": step, "val_loss": round(-t.intermediate_values[step], 6)}
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    out: dict[str, Any] = {"study": study.study_name, "storage": storage, "metric": metric, "trials": trials}
    if complete:
        best = study.best_trial
        out["best"] = {
            "number": best.number,
            "value": round(best.value, 6),
            "params": decode_params(best.params),
            "train_run": best.user_attrs.get("train_run"),
        }
        default = next((t for t in complete if t.user_attrs.get("default")), None)
        if default is not None and default.number != best.number:
            out["best_vs_default"] = {
                "default_trial": default.number,
                "default_value": round(default.value, 6),
                "diff": paired_interval(best.user_attrs["scores"], default.user_attrs["scores"]),
            }
    if len(complete) >= 2:
        try:
            importances = optuna.importance.get_param_importances(study)
            out["importances"] = {k: round(float(v), 4) for k, v in importances.items()}
        except (RuntimeError, ValueError) as exc:  # e.g. every trial sampled the same value
            out["importances"] = {"unavailable": str(exc)}
    out["counts"] = {state: sum(1 for t in trials if t["state"] == state) for state in {t["state"] for t in trials}}
    return out


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def report_html(summary: dict[str, Any]) -> str:
    """A self-contained page: the optimization history as an inline SVG, and every trial."""
    import html

    done = [t for t in summary["trials"] if t["value"] is not None]
    width, height, pad = 560, 220, 30
    points, best_line = "", ""
    if done:
        values = [t["value"] for t in done]
        low, high = min(values), max(values)
        span = (high - low) or 1.0
        n = max(len(summary["trials"]) - 1, 1)

        def xy(number: int, value: float) -> tuple[float, float]:
            return pad + (width - 2 * pad) * number / n, height - pad - (height - 2 * pad) * (value - low) / span

        points = "".join(
            f'<circle cx="{xy(t["number"], t["value"])[0]:.1f}" cy="{xy(t["number"], t["value"])[1]:.1f}" r="4">'
            f"<title>trial {t['number']}: {t['value']:.4f}</title></circle>"
            for t in done
        )
        running, path = -1e9, []
        for t in sorted(done, key=lambda t: t["number"]):
            running = max(running, t["value"])
            path.append("{:.1f},{:.1f}".format(*xy(t["number"], running)))
        best_line = f'<polyline fill="none" stroke="#2a7" points="{" ".join(path)}"/>'
    rows = "".join(
        f"<tr><td>{t['number']}</td><td>{t['state']}{' (default)' if t['default'] else ''}"
        + (
            f" at step {t['pruned_at']['step']} (val loss {t['pruned_at']['val_loss']:.3f})"
            if t.get("pruned_at")
            else ""
        )
        + "</td>"
        f"<td>{_fmt(t['value'])}</td><td>{html.escape(json.dumps(t['params']))}</td>"
        f"<td>{t['seconds'] or ''}</td><td>{html.escape(t['train_run'] or '')}</td></tr>"
        for t in summary["trials"]
    )
    importances = "".join(f"<li>{html.escape(k)}: {v}</li>" for k, v in (summary.get("importances") or {}).items())
    best = summary.get("best")
    return (
        "<!doctype html><meta charset=utf-8><title>tunesmith tune</title>"
        "<style>body{font:14px sans-serif;margin:2em}td,th{padding:2px 8px;text-align:left}</style>"
        f"<h1>Study {html.escape(summary['study'])}: {html.escape(summary['metric'])} on the validation split</h1>"
        + (
            f"<p>Best: trial {best['number']}, {best['value']:.4f}, {html.escape(json.dumps(best['params']))}</p>"
            if best
            else "<p>No finished trial.</p>"
        )
        + f'<svg width="{width}" height="{height}" role="img" aria-label="optimization history">'
        f'<rect width="{width}" height="{height}" fill="#fafafa"/>{best_line}{points}</svg>'
        f"<h2>Parameter importances</h2><ul>{importances}</ul>"
        "<h2>Trials</h2><table><tr><th>#</th><th>state</th><th>value</th><th>params</th><th>s</th><th>run</th></tr>"
        f"{rows}</table>"
    )


def trial_params(cfg: TuneConfig, project_dir: Path, project_name: str, number: int) -> dict[str, Any]:
    """The training settings trial ``number`` ran with (for `tunesmith train --from-trial`)."""
    study = open_study(cfg, project_dir, project_name, load_only=True)
    match = [t for t in study.trials if t.number == number]
    if not match:
        raise ConfigError(
            f"study '{study.study_name}' has no trial {number}",
            where=masked(storage_url(cfg, project_dir)),
            fix=f"Trials: {[t.number for t in study.trials]}.",
        )
    return decode_params(match[0].params)
