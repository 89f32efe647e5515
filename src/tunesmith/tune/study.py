"""The Optuna study: where it lives, how values are sampled, the project's own settings as trial 0."""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunesmith.core.deps import require
from tunesmith.core.errors import ConfigError
from tunesmith.core.rundir import RunDir
from tunesmith.models.spec import LocalModelRef
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


def open_study(
    cfg: TuneConfig,
    project_dir: Path,
    project_name: str,
    *,
    directions: list[str] | None = None,
    load_only: bool = False,
) -> Any:
    """The study in its storage, created on first use. ``directions``: one per objective ("maximize" or
    "minimize"); with the gate as constraints, the sampler learns which settings stay feasible."""
    optuna = require("optuna", purpose="hyperparameter search")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = storage_url(cfg, project_dir)
    name = cfg.study or project_name
    if load_only:
        return optuna.load_study(study_name=name, storage=url)
    directions = directions or ["maximize"]
    # Optuna 5 reads a trial's constraints from the trial itself (`hold_to`) and deprecates the sampler's
    # function; Optuna 4 has only the function
    sampler_reads_trials = hasattr(optuna.trial.Trial, "set_constraint")
    constraints = constraints_func if cfg.constraints == "gate" and not sampler_reads_trials else None
    if cfg.sampler == "tpe":
        sampler = optuna.samplers.TPESampler(seed=cfg.seed, constraints_func=constraints)
    else:
        sampler = optuna.samplers.RandomSampler(cfg.seed)
    # Optuna prunes single-objective studies only
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
        if cfg.pruner == "median" and len(directions) == 1
        else optuna.pruners.NopPruner()
    )
    # Workers starting together race to create the storage's tables (PostgreSQL raises on the loser's
    # CREATE TYPE); the tables exist by the time the loser retries.
    attempt = 0
    while True:
        try:
            return optuna.create_study(
                study_name=name, storage=url, directions=directions, sampler=sampler, pruner=pruner, load_if_exists=True
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


def constraints_func(trial: Any) -> list[float]:
    """Optuna's form of the gate checks a trial was held to: one value per check, feasible when <= 0."""
    return [-float(v["slack"]) for v in trial.user_attrs.get("constraints", [])]


def hold_to(trial: Any, verdicts: list[dict[str, Any]]) -> None:
    """Keep the gate checks a trial was held to on the trial, and (Optuna >= 5) give the sampler their slack
    as the trial's constraints, one per check, feasible when <= 0."""
    trial.set_user_attr("constraints", verdicts)
    if hasattr(trial, "set_constraint"):
        for i, verdict in enumerate(verdicts):
            trial.set_constraint(f"{i:02d} {verdict['name']}", -float(verdict["slack"]))


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


def resolve_auto(
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


def stop_when_full(trials: int) -> Callable[[Any, Any], None]:
    """Stop this worker once the study has ``trials`` finished or running trials, whoever runs them (Optuna's
    MaxTrialsCallback counts only finished ones, so a worker would start one trial too many)."""
    optuna = require("optuna")
    counted = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.RUNNING)

    def callback(study: Any, trial: Any) -> None:
        if len(study.get_trials(deepcopy=False, states=counted)) >= trials:
            study.stop()

    return callback


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
