"""Experiment tracking on MLflow: every stage run, with its parameters, metrics, artifacts and dataset.

A run folder stays the source of truth; MLflow is where a team looks at them
together. Logging is idempotent (a run folder remembers its MLflow run id), so
``tunesmith registry sync`` can log what an unreachable server missed.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tunesmith.core.deps import require
from tunesmith.core.jsonl import read_jsonl
from tunesmith.core.rundir import RunDir
from tunesmith.registry.config import TrackingConfig

STORE_FOLDER = "mlflow"
MLFLOW_RUN_KEY = "mlflow_run_id"
MAX_PARAM = 6000  # MLflow's limit on one parameter value


def store_uri(cfg: TrackingConfig, project_dir: Path) -> str:
    if cfg.uri:
        return cfg.uri
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    folder = (project_dir / STORE_FOLDER).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def is_local_store(uri: str) -> bool:
    return uri.startswith("sqlite:///") or uri.startswith("file:") or "://" not in uri


@contextmanager
def _first_use(uri: str) -> Iterator[None]:
    """For a SQLite store, hold its lock file while this process first touches it: MLflow creates and
    migrates the database on first use, and two processes doing that at once (two tuning workers, a run
    beside the server's job) failed one of them ("duplicate column name"). Once it exists, SQLite's own
    locking serializes the writes."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    database = Path(uri.removeprefix("sqlite:///"))
    database.parent.mkdir(parents=True, exist_ok=True)
    with database.with_name(f".{database.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # the lock goes with the file's closing


def open_tracker(cfg: TrackingConfig, project_dir: Path, project_name: str) -> Tracker | None:
    return Tracker(cfg, project_dir, project_name) if cfg.enabled else None


def log_quietly(get_tracker: Callable[[], Tracker | None], run: RunDir, *, weights: Path | None = None) -> str | None:
    """Log a finished run folder; a store that cannot be reached costs a warning, not the run: the run
    folder holds everything, and `tunesmith registry sync` logs it later."""
    from tunesmith.core.errors import TunesmithError
    from tunesmith.core.progress import note

    try:
        tracker = get_tracker()
        return None if tracker is None else tracker.log_run(run, weights=weights)
    except TunesmithError as exc:
        note(f"[yellow]not tracked:[/] {exc.what} ({exc.fix or ''})")
    except Exception as exc:
        note(
            f"[yellow]not tracked in MLflow ({type(exc).__name__}: {exc});[/] the run folder is complete; "
            "`tunesmith registry sync` logs it once the store is reachable"
        )
    return None


class Tracker:
    """One project's experiment on one MLflow store."""

    def __init__(self, cfg: TrackingConfig, project_dir: Path, project_name: str) -> None:
        mlflow = require("mlflow", purpose="experiment tracking (or set tracking.enabled: false)")
        # MLflow announces its database migrations on the root logger; they are not the user's business
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        logging.getLogger("alembic").setLevel(logging.WARNING)
        self.cfg = cfg
        self.project_dir = project_dir
        self.uri = store_uri(cfg, project_dir)
        self.experiment_name = cfg.experiment or project_name
        self.model_name = cfg.model_name or project_name
        with _first_use(self.uri):
            self.client = mlflow.MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
            if self.uri.startswith("sqlite:///"):
                # the registry's tables are created by its own store, on its first use: make that now
                self.client.search_registered_models(max_results=1)
            found = self.client.get_experiment_by_name(self.experiment_name)
            if found is not None:
                self.experiment_id = found.experiment_id
            else:
                self.experiment_id = self._create_experiment()

    def _create_experiment(self) -> str:
        artifacts = None
        if is_local_store(self.uri):  # next to the database, not in the working directory
            artifacts = (self.project_dir / STORE_FOLDER / "artifacts").resolve().as_uri()
        try:
            return str(self.client.create_experiment(self.experiment_name, artifact_location=artifacts))
        except Exception:
            # another process (on another machine, for a shared server) created it since we looked
            found = self.client.get_experiment_by_name(self.experiment_name)
            if found is None:
                raise
            return str(found.experiment_id)

    # -- runs -------------------------------------------------------------------------------
    def mlflow_run_id(self, run: RunDir) -> str | None:
        """The MLflow run a run folder was logged as, if it still exists in this store."""
        run_id = run.info.get(MLFLOW_RUN_KEY)
        if not run_id:
            return None
        try:
            self.client.get_run(run_id)
        except Exception:
            return None
        return str(run_id)

    def log_run(self, run: RunDir, *, weights: Path | None = None) -> str:
        """Log a finished run folder (again, if it changed); returns its MLflow run id."""
        from mlflow.entities import Metric, Param, RunTag

        existing = self.mlflow_run_id(run)
        if existing is not None:
            self.client.delete_run(existing)  # a resumed or re-gated run: replace, never duplicate
        info = run.info
        inputs = info.get("inputs", {})
        tags = {
            "tunesmith.stage": run.stage,
            "tunesmith.run_id": run.id,
            "tunesmith.run_dir": str(run.root.resolve()),
            "tunesmith.status": info.get("status", ""),
            "mlflow.runName": run.id,
        }
        for key in ("dataset_version", "data_run", "train_run", "eval_run", "base_model", "recipe"):
            if inputs.get(key):
                tags[f"tunesmith.{key}"] = str(inputs[key])
        mlflow_run = self.client.create_run(self.experiment_id, tags=tags, run_name=run.id)
        run_id = mlflow_run.info.run_id
        params = [Param(k, v) for k, v in _flatten_params(_config(run)).items()]
        metrics = [Metric(k, v, 0, 0) for k, v in _numbers(info.get("summary", {})).items()]
        metrics += _history(run)
        for start in range(0, len(params), 100):  # MLflow's batch limits
            self.client.log_batch(run_id, params=params[start : start + 100])
        for start in range(0, len(metrics), 1000):
            self.client.log_batch(run_id, metrics=metrics[start : start + 1000])
        self.client.log_batch(run_id, tags=[RunTag("tunesmith.version", str(info.get("tunesmith_version", "")))])
        if inputs.get("dataset_version"):
            self._log_dataset(run_id, run, str(inputs["dataset_version"]))
        limit = self.cfg.max_artifact_mb * 1024 * 1024
        for path in sorted(run.root.iterdir()):
            if path.is_file() and not path.name.startswith(".") and path.stat().st_size <= limit:
                self.client.log_artifact(run_id, str(path))
        if weights is not None and self.logs_weights(weights):
            self.client.log_artifacts(run_id, str(weights), "weights")
        status = {"succeeded": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}.get(info["status"], "FINISHED")
        self.client.set_terminated(run_id, status=status)
        run.annotate(**{MLFLOW_RUN_KEY: run_id})
        return run_id

    def logs_weights(self, weights: Path) -> bool:
        if not weights.is_dir() or self.cfg.log_weights == "never":
            return False
        return self.cfg.log_weights == "always" or (weights / "adapter_config.json").is_file()

    def _log_dataset(self, run_id: str, run: RunDir, version: str) -> None:
        from mlflow.entities import Dataset, DatasetInput, InputTag

        manifest: dict[str, Any] = {}
        data_dir = run.root if run.stage == "data" else None
        if data_dir is not None and (data_dir / "manifest.json").is_file():
            manifest = json.loads((data_dir / "manifest.json").read_text(encoding="utf-8"))
        profile = {k: manifest[k] for k in ("examples", "rows_in", "removed", "tokens") if k in manifest}
        dataset = Dataset(
            name=f"{self.experiment_name}-data",
            digest=version,
            source_type="local",
            source=json.dumps({"run": run.info.get("inputs", {}).get("data_run") or run.id, "version": version}),
            profile=json.dumps(profile) if profile else None,
        )
        context = "train" if run.stage == "train" else "eval" if run.stage in ("eval", "gate") else "data"
        self.client.log_inputs(run_id, [DatasetInput(dataset, [InputTag("mlflow.data.context", context)])])


def _config(run: RunDir) -> dict[str, Any]:
    import yaml

    path = run.path("config.yaml")
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {} if path.is_file() else {}


def _flatten_params(config: Any, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(config, dict):
        for key, value in config.items():
            out.update(_flatten_params(value, f"{prefix}{key}."))
    else:
        text = json.dumps(config) if isinstance(config, list) else str(config)
        out[prefix.rstrip(".")] = text[:MAX_PARAM]
    return out


def _numbers(summary: Any, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a run summary as metric names (`systems.finetuned.rouge_l.mean`)."""
    out: dict[str, float] = {}
    if isinstance(summary, dict):
        for key, value in summary.items():
            if key in ("output_lengths", "metric_info", "trials"):
                continue
            out.update(_numbers(value, f"{prefix}{key}."))
    elif isinstance(summary, bool):
        out[prefix.rstrip(".")] = float(summary)
    elif isinstance(summary, int | float) and math.isfinite(summary):
        out[prefix.rstrip(".")] = float(summary)
    return {k.replace("+", "_plus_"): v for k, v in out.items()}


def _history(run: RunDir) -> list[Any]:
    """A training run's logged curve (loss, val loss, learning rate) at its steps."""
    from mlflow.entities import Metric

    path = run.path("metrics.jsonl")
    if run.stage != "train" or not path.is_file():
        return []
    out = []
    for row in read_jsonl(path):
        step = row.get("step")
        if not isinstance(step, int):
            continue
        for key, value in row.items():
            if (
                key not in ("step", "max_steps", "epoch", "time")
                and isinstance(value, int | float)
                and math.isfinite(value)
            ):
                out.append(Metric(f"curve.{key}", float(value), int(row.get("time", 0) * 1000) or 0, step))
    return out
