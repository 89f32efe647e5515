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

from tunesmith.core.deps import require
from tunesmith.core.errors import ConfigError
from tunesmith.core.progress import note
from tunesmith.core.rundir import RunDir
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


def open_study(cfg: TuneConfig, project: Any, *, load_only: bool = False) -> Any:
    optuna = require("optuna", purpose="hyperparameter search")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = storage_url(cfg, project.dir)
    name = cfg.study or project.config.name
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


def overrides_for(params: dict[str, Any]) -> list[str]:
    return [f"train.{k}={json.dumps(v) if isinstance(v, list | dict | bool) else v}" for k, v in params.items()]


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


def _resolve_auto(cfg: TuneConfig, project: Any, data_run: RunDir) -> dict[str, Any]:
    """What training would pick for the searched settings left at ``auto`` (so the project's own configuration
    can still run as trial 0); reads the base model's config only, never its weights."""
    train = project.config.train
    if not any(getattr(train, name, None) == "auto" for name in cfg.search_space):
        return {}
    from transformers import AutoConfig

    from tunesmith.models.device import pick_device
    from tunesmith.models.resolve import local_path
    from tunesmith.train import defaults
    from tunesmith.train.estimate import count_parameters

    base = project.config.base_model
    n_params = count_parameters(AutoConfig.from_pretrained(local_path(base, project.dir)))
    n_examples = sum(1 for line in data_run.path("train.jsonl").read_text(encoding="utf-8").splitlines() if line)
    hp = defaults.resolve(train, n_examples=n_examples, n_params=n_params, device=pick_device(base.device))
    return {name: getattr(hp, name) for name in cfg.search_space if hasattr(hp, name)}


def validation_set(data_run: RunDir, limit: int) -> tuple[list[list[dict[str, Any]]], list[str], list[str]]:
    rows = [json.loads(line) for line in data_run.path("val.jsonl").read_text(encoding="utf-8").splitlines() if line]
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
    project: Any,
    reload: Callable[[list[str]], Any],
    overrides: list[str],
    data_ref: str | None,
    run_dir: RunDir,
) -> dict[str, Any]:
    """Run trials until the study has ``cfg.trials`` finished ones (counting other workers'), then report."""
    from tunesmith.eval.metrics.base import MetricContext
    from tunesmith.eval.scoring import score_outputs
    from tunesmith.models.generation import GenerationParams
    from tunesmith.models.local import LocalGenerator
    from tunesmith.registry.runs import resolve_run
    from tunesmith.registry.tracking import log_quietly, open_tracker
    from tunesmith.train.hooks import extra_callbacks

    optuna = require("optuna", purpose="hyperparameter search")
    check_space(cfg.search_space)
    metric = cfg.metric or project.config.eval.primary
    data_run = resolve_run(project.dir, data_ref, "data")
    chats, references, inputs = validation_set(data_run, cfg.val_limit)
    study = open_study(cfg, project)
    defaults = default_params(cfg, project.config.train, _resolve_auto(cfg, project, data_run))
    if defaults is not None and not study.trials:
        study.enqueue_trial(defaults, user_attrs={"default": True})
    run_dir.record_inputs(data_run=data_run.id, study=study.study_name, storage=masked(storage_url(cfg, project.dir)))

    opened: list[Any] = []

    def tracker() -> Any:
        if not opened:
            opened.append(open_tracker(project.config.tracking, project.dir, project.config.name))
        return opened[0]

    def objective(trial: Any) -> float:
        params = suggest(trial, cfg.search_space)
        note(f"trial {trial.number}: {params}")
        loaded = reload(overrides + overrides_for(params))

        from transformers import TrainerCallback

        class Prune(TrainerCallback):  # type: ignore[misc]
            def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **kw: Any) -> None:
                if metrics and "eval_loss" in metrics:
                    # the study maximizes; a lower loss is better
                    trial.report(-float(metrics["eval_loss"]), state.global_step)
                    if trial.should_prune():
                        raise optuna.TrialPruned(
                            f"validation loss {metrics['eval_loss']:.4f} at step {state.global_step}"
                        )

        with extra_callbacks([Prune()]):
            train_run, adapter = train_trial(loaded, data_run, trial.number)
        trial.set_user_attr("train_run", train_run.id)
        generator = LocalGenerator.load(loaded.config.base_model, project.dir)
        generator.add_adapter("trial", adapter)
        outputs = generator.generate(chats, GenerationParams(max_new_tokens=cfg.max_new_tokens), adapter="trial")
        scores = score_outputs(
            [metric],
            [o.text for o in outputs],
            references,
            MetricContext(
                inputs=inputs,
                contexts=[[] for _ in inputs],
                style=loaded.config.eval.style,
                format=loaded.config.eval.format,
                embedder=loaded.config.knowledge.embedder_spec,
            ),
        )[metric]
        trial.set_user_attr("scores", [round(float(s), 6) for s in scores])
        value = float(np.mean(scores))
        # the trial's training run, in MLflow with the score it earned
        train_run.finish("succeeded", summary={**train_run.info.get("summary", {}), f"tune_{metric}": value})
        log_quietly(tracker, train_run, weights=adapter)
        return value

    started = time.perf_counter()
    states = (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    remaining = cfg.trials - len(study.get_trials(deepcopy=False, states=states))
    if remaining > 0:  # a worker that joins a full study only reports it
        study.optimize(objective, callbacks=[_stop_when_full(cfg.trials)], n_trials=remaining, catch=())
    summary = report(study, metric=metric, storage=masked(storage_url(cfg, project.dir)))
    summary["seconds"] = round(time.perf_counter() - started, 1)
    run_dir.write_json("report.json", summary)
    (run_dir.path("report.html")).write_text(report_html(summary), encoding="utf-8")
    return summary


def train_trial(loaded: Any, data_run: RunDir, number: int) -> tuple[RunDir, Path]:
    """One trial's training: a normal training run folder, marked with its trial."""
    from tunesmith.registry.runs import runs_root
    from tunesmith.train.run import run as train

    cfg = loaded.config
    run_dir = RunDir.create(runs_root(loaded.dir), "train", cfg.train.model_dump(mode="json"))
    run_dir.record_inputs(
        data_run=data_run.id,
        dataset_version=data_run.info["inputs"].get("dataset_version"),
        base_model=cfg.base_model.id,
        recipe=cfg.train.recipe,
        tune_trial=number,
    )
    try:
        result = train(cfg.train, base=cfg.base_model, data_dir=data_run.root, project_dir=loaded.dir, run_dir=run_dir)
    except BaseException as exc:
        pruned = type(exc).__name__ == "TrialPruned"
        run_dir.finish("failed", error=("pruned: " if pruned else "") + str(exc))
        raise
    run_dir.finish(
        "succeeded",
        summary={"recipe": cfg.train.recipe, "adapter": str(result.adapter), "final_val_loss": result.final_val_loss},
    )
    return run_dir, Path(result.adapter)


def _stop_when_full(trials: int) -> Callable[[Any, Any], None]:
    """Stop this worker once the study has ``trials`` finished or running trials, whoever runs them (Optuna's
    MaxTrialsCallback counts only finished ones, so a worker would start one trial too many)."""
    optuna = require("optuna")
    counted = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.RUNNING)

    def callback(study: Any, trial: Any) -> None:
        if len(study.get_trials(deepcopy=False, states=counted)) >= trials:
            study.stop()

    return callback


def paired_interval(a: list[float], b: list[float], *, resamples: int = 2000, seed: int = 0) -> dict[str, float]:
    diff = np.asarray(a) - np.asarray(b)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(resamples, len(diff)))].mean(axis=1)
    return {
        "mean": round(float(diff.mean()), 4),
        "low": round(float(np.percentile(means, 2.5)), 4),
        "high": round(float(np.percentile(means, 97.5)), 4),
    }


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


def trial_overrides(cfg: TuneConfig, project: Any, number: int) -> list[str]:
    """The settings of trial ``number``, as --set overrides (for `tunesmith train --from-trial`)."""
    study = open_study(cfg, project, load_only=True)
    match = [t for t in study.trials if t.number == number]
    if not match:
        raise ConfigError(
            f"study '{study.study_name}' has no trial {number}",
            where=masked(storage_url(cfg, project.dir)),
            fix=f"Trials: {[t.number for t in study.trials]}.",
        )
    return overrides_for(decode_params(match[0].params))
