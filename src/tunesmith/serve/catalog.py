"""Every model the server answers for, by OpenAI-style id.

The base model; each succeeded training run's adapter (`ft:BASE:PROJECT:RUN`); each fine-tuning job's
model and its checkpoints (`ft:BASE:SUFFIX:JOB[:ckpt-step-N]`); and `NAME@ALIAS` for each alias in the model
registry, so promoting a version is deploying it.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tunesmith.models.local import LocalGenerator
from tunesmith.models.pool import ModelPool
from tunesmith.project import LoadedProject
from tunesmith.registry.runs import list_runs, run_by_id
from tunesmith.serve.jobstore import JobStore
from tunesmith.serve.openai_schema import fine_tuned_model_id
from tunesmith.train.layout import adapter_of


@dataclass
class ServedModel:
    id: str
    adapter: str | None  # adapter name on the base generator, None for the base itself
    adapter_path: Path | None
    created: int
    owned_by: str = "tunesmith"


ALIAS_TTL_S = 5.0
CHECKPOINT_SUFFIX = re.compile(r":ckpt-step-(\d+)$")
JOB_IDENT = re.compile(r"[0-9a-f]{24}")  # a job's id without its "ftjob-"


def adapter_name(path: Path) -> str:
    # one name per adapter folder, however many ids point at it; identifier-safe for PEFT's module names
    return "ft_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]


class ModelCatalog:
    """The base model, every succeeded training run's adapter, every fine-tuning job's model and its
    checkpoints, by OpenAI-style id."""

    def __init__(self, project: LoadedProject, pool: ModelPool, store: JobStore | None = None) -> None:
        self.project = project
        self.pool = pool
        self.store = store
        self._lock = threading.Lock()
        self._generator: LocalGenerator | None = None
        self._aliases: tuple[float, list[ServedModel]] = (0.0, [])

    @property
    def base_id(self) -> str:
        return self.project.config.base_model.display_name

    def _served(self, model_id: str, adapter: Path, owner: str) -> ServedModel:
        return ServedModel(model_id, adapter_name(adapter), adapter, int(adapter.stat().st_mtime), owner)

    def models(self) -> list[ServedModel]:
        base = self.base_id
        name = self.project.config.name
        out = [ServedModel(base, None, None, int(self.project.file.stat().st_mtime))]
        runs = {run.id: run for run in list_runs(self.project.dir, "train")}
        for run in runs.values():
            adapter = adapter_of(run)
            if run.status == "succeeded" and adapter is not None:
                out.append(self._served(fine_tuned_model_id(base, name, run.id), adapter, name))
        if self.store is not None:
            for job in self.store.list_jobs(limit=10_000)[0]:
                run = runs.get(job.get("train_run") or "")
                if run is None:
                    continue
                model_id = job.get("fine_tuned_model") or fine_tuned_model_id(base, job.get("suffix"), job["id"])
                adapter = adapter_of(run)
                if job["status"] == "succeeded" and adapter is not None:
                    out.append(self._served(model_id, adapter, name))
                for checkpoint in self.store.checkpoints(job["id"]):
                    folder = self.project.dir / checkpoint["path"]
                    if (folder / "adapter_config.json").is_file():
                        out.append(self._served(f"{model_id}:ckpt-step-{checkpoint['step']}", folder, name))
        return out + self._registry_aliases()

    def _registry_aliases(self) -> list[ServedModel]:
        """`NAME@ALIAS` for every alias in the model registry (`tunesmith promote` moves them), so clients
        ask for `support@production` and get whatever passed its gate last; re-read every few seconds."""
        checked, cached = self._aliases
        if time.monotonic() - checked < ALIAS_TTL_S:
            return cached
        found: list[ServedModel] = []
        tracking = self.project.config.tracking
        from tunesmith.registry.tracking import STORE_FOLDER

        local_store = (self.project.dir / STORE_FOLDER / "mlflow.db").is_file()
        if tracking.enabled and (tracking.uri or local_store):
            try:
                from tunesmith.registry.tracking import Tracker

                tracker = Tracker(tracking, self.project.dir, self.project.config.name)
                model = tracker.client.get_registered_model(tracker.model_name)
                for alias, version in (model.aliases or {}).items():
                    weights = tracker.client.get_model_version(model.name, version).tags.get("tunesmith.weights")
                    if weights and (Path(weights) / "adapter_config.json").is_file():
                        found.append(self._served(f"{model.name}@{alias}", Path(weights), model.name))
            except Exception:  # no registered model yet, or the store is unreachable: serve the rest
                found = []
        self._aliases = (time.monotonic(), found)
        return found

    def find(self, model_id: str) -> ServedModel | None:
        """The model with this id, as `models()` lists it, resolved from the id itself: every chat request asks,
        and listing every model to pick one took 0.15-0.2 s of the request with 300 runs and 300 jobs."""
        base = self.base_id
        if model_id == base:
            return ServedModel(base, None, None, int(self.project.file.stat().st_mtime))
        if "@" in model_id and not model_id.startswith("ft:"):  # NAME@ALIAS (a base's name may hold an "@" too)
            return next((m for m in self._registry_aliases() if m.id == model_id), None)
        checkpoint = CHECKPOINT_SUFFIX.search(model_id)
        main = model_id[: checkpoint.start()] if checkpoint else model_id
        if not main.startswith("ft:"):
            return None
        ident = main.rpartition(":")[2]
        name = self.project.config.name
        if self.store is not None and JOB_IDENT.fullmatch(ident):
            job = self.store.get_job("ftjob-" + ident)
            run = run_by_id(self.project.dir, job["train_run"], "train") if job and job.get("train_run") else None
            if job is not None and run is not None:
                job_model = job.get("fine_tuned_model") or fine_tuned_model_id(base, job.get("suffix"), job["id"])
                if checkpoint is None:
                    adapter = adapter_of(run)
                    if job_model == model_id and job["status"] == "succeeded" and adapter is not None:
                        return self._served(model_id, adapter, name)
                elif job_model == main:
                    step = int(checkpoint.group(1))
                    for saved in self.store.checkpoints(job["id"]):
                        folder = self.project.dir / saved["path"]
                        if saved["step"] == step and (folder / "adapter_config.json").is_file():
                            return self._served(model_id, folder, name)
        if checkpoint is None and model_id == fine_tuned_model_id(base, name, ident):
            run = run_by_id(self.project.dir, ident, "train")
            adapter = adapter_of(run) if run is not None and run.status == "succeeded" else None
            if adapter is not None:
                return self._served(model_id, adapter, name)
        return None

    def generator(self) -> LocalGenerator:
        with self._lock:
            if self._generator is None:
                self._generator = self.pool.local(self.project.config.base_model)
            return self._generator
