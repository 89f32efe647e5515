"""Benchmark: finding the model a chat request names, in a project with many runs and jobs.

Every chat and model request asks the server's catalog for one model id. It is resolved from the id itself
(`ModelCatalog.find`); the obvious way, listing every model (each training run's adapter, each job's model
and checkpoints) and picking the one, is timed beside it on the same project, for the base model, a job's
checkpoint, a training run's model and an unknown id, and both must give the same model.

    python bench/catalog.py [--runs 300] [--checkpoints 5] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from watching import median_ms  # bench/ is on the path of a script run from it


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300, help="training runs, and as many fine-tuning jobs")
    parser.add_argument("--checkpoints", type=int, default=5, help="kept checkpoints per job")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from tunesmith.core.rundir import RunDir
    from tunesmith.project import load_project
    from tunesmith.registry.runs import runs_root
    from tunesmith.serve.catalog import ModelCatalog
    from tunesmith.serve.jobstore import JobStore

    project = Path(tempfile.mkdtemp(prefix="bench-catalog-")) / "project"
    shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / "northwind-support", project)
    store = JobStore(project / ".tunesmith" / "serve")
    for _ in range(args.runs):
        run = RunDir.create(runs_root(project), "train", {})
        (run.root / "adapter").mkdir()
        (run.root / "adapter" / "adapter_config.json").write_text("{}")
        run.finish()
        job = store.create_job(
            model="m", training_file="file-" + "0" * 24, method={"type": "supervised"}, hyperparameters={}, seed=1
        )
        store.update_job(job["id"], status="succeeded", train_run=run.id)
        for step in range(1, args.checkpoints + 1):
            folder = project / ".tunesmith" / "serve" / "checkpoints" / job["id"] / f"step-{step}"
            folder.mkdir(parents=True)
            (folder / "adapter_config.json").write_text("{}")
            store.add_checkpoint(job["id"], step, {}, str(folder.relative_to(project)))
    catalog = ModelCatalog(load_project(project), pool=None, store=store)  # type: ignore[arg-type]
    listed = catalog.models()
    wanted = {
        "base": catalog.base_id,
        "checkpoint": next(m.id for m in listed if ":ckpt-step-" in m.id),
        "run": next(m.id for m in listed if m.id.count(":") == 3 and m.id.endswith("-train")),
        "unknown": "ft:" + catalog.base_id + ":tunesmith:" + "f" * 24,
    }

    def by_list(model_id: str) -> Any:
        return next((m for m in catalog.models() if m.id == model_id), None)

    result: dict[str, Any] = {"models": len(listed), "runs": args.runs, "jobs": args.runs}
    same = True
    for kind, model_id in wanted.items():
        same = same and catalog.find(model_id) == by_list(model_id)
        result[f"find_{kind}_ms"] = median_ms(lambda i=model_id: catalog.find(i), args.repeat)
        result[f"find_{kind}_ms_listing_all"] = median_ms(lambda i=model_id: by_list(i), args.repeat)
    result["same_models"] = same
    print(json.dumps(result))


if __name__ == "__main__":
    main()
