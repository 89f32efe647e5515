"""The server finds a requested model from its id alone, exactly as the full list has it."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import EXAMPLE
from tunesmith.core.rundir import RunDir
from tunesmith.project import load_project
from tunesmith.registry.runs import runs_root
from tunesmith.serve.catalog import ModelCatalog
from tunesmith.serve.jobstore import JobStore
from tunesmith.serve.openai_schema import fine_tuned_model_id


def _train_run(project: Path, status: str, adapter: bool) -> RunDir:
    run = RunDir.create(runs_root(project), "train", {})
    if adapter:
        (run.root / "adapter").mkdir()
        (run.root / "adapter" / "adapter_config.json").write_text("{}")
    run.finish(status)
    return run


def test_find_answers_as_the_list_does_for_every_kind_of_id(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project)
    store = JobStore(project / ".tunesmith" / "serve")
    good, failed, bare = (
        _train_run(project, *case) for case in (("succeeded", True), ("failed", True), ("succeeded", False))
    )

    def job(status: str, run: RunDir | None, suffix: str | None, steps: dict[int, bool]) -> dict:
        made = store.create_job(
            model="m",
            training_file="file-" + "0" * 24,
            method={"type": "supervised"},
            hyperparameters={},
            seed=1,
            suffix=suffix,
        )
        store.update_job(made["id"], status=status, train_run=run.id if run else "20991231-000000-train")
        for step, loadable in steps.items():
            folder = project / ".tunesmith" / "serve" / "checkpoints" / made["id"] / f"step-{step}"
            folder.mkdir(parents=True)
            if loadable:
                (folder / "adapter_config.json").write_text("{}")
            store.add_checkpoint(made["id"], step, {}, str(folder.relative_to(project)))
        return made

    done = job("succeeded", good, "support", {4: True, 8: False})
    running = job("running", _train_run(project, "running", False), None, {2: True})
    lost = job("succeeded", None, None, {2: True})  # its run folder is gone
    catalog = ModelCatalog(load_project(project), pool=None, store=store)  # type: ignore[arg-type]
    listed = catalog.models()
    base, name = catalog.base_id, catalog.project.config.name
    asked = [m.id for m in listed] + [
        fine_tuned_model_id(base, name, failed.id),  # a failed run
        fine_tuned_model_id(base, name, bare.id),  # no adapter
        fine_tuned_model_id(base, "other", good.id),  # another suffix
        fine_tuned_model_id(base, "support", done["id"]) + ":ckpt-step-8",  # checkpoint without an adapter
        fine_tuned_model_id(base, "support", done["id"]) + ":ckpt-step-5",  # no such step
        fine_tuned_model_id(base, None, running["id"]),  # not finished: only its checkpoints
        fine_tuned_model_id(base, None, lost["id"]),
        fine_tuned_model_id(base, None, "0" * 24),
        fine_tuned_model_id("another-base", "support", done["id"]),
        "ft:",
        "ft:x:y:../../etc",
        "gpt-4o",
        "support@production",
    ]
    assert len(listed) == 5  # the base, one run, one job and the two loadable checkpoints
    for model_id in asked:
        assert catalog.find(model_id) == next((m for m in listed if m.id == model_id), None), model_id
