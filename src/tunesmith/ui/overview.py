"""The project overview: each stage's latest run and result, and what to do next."""

from __future__ import annotations

from typing import Any

from tunesmith.core.errors import StageError
from tunesmith.core.rundir import RunDir
from tunesmith.core.stats import format_interval
from tunesmith.project import LoadedProject
from tunesmith.registry.runs import list_runs, run_by_id

STAGES = ("baseline", "data", "train", "eval", "tune", "gate")
LABELS = {
    "baseline": "Baseline",
    "data": "Data",
    "train": "Train",
    "eval": "Evaluate",
    "tune": "Tune",
    "gate": "Gate",
}


def headline(run: RunDir) -> str:
    """One line that says what a run found."""
    summary = run.info.get("summary") or {}
    stage = run.stage
    if run.status == "failed":
        return str(run.info.get("error", "failed")).splitlines()[0][:200]
    if stage == "baseline" and summary.get("template"):
        return f"{summary['model']} with '{summary['template']}': {format_interval(summary.get('score'))}"
    if stage == "data" and summary.get("examples"):
        counts = summary["examples"]
        removed = sum((summary.get("rejected") or {}).values())
        return f"{counts.get('train', 0)} train / {counts.get('val', 0)} val / {counts.get('test', 0)} test; {removed} removed"
    if stage == "train" and summary.get("recipe"):
        loss = summary.get("final_val_loss") or summary.get("final_train_loss")
        return f"{summary['recipe']}, final loss {loss:.3f}" if isinstance(loss, float) else str(summary["recipe"])
    if stage == "eval" and summary.get("primary"):
        systems = summary.get("systems") or {}
        primary = summary["primary"]
        ft = (systems.get("finetuned") or {}).get(primary)
        vs = summary.get("finetuned_vs_baseline")
        text = f"fine-tuned {primary} {format_interval(ft)}" if ft else primary
        return text + (f"; vs baseline {format_interval(vs.get('diff'), signed=True)}" if vs else "")
    if stage == "tune" and summary.get("best"):
        best = summary["best"]
        return f"best trial {best['number']}: {best['value']:.3f} ({summary.get('counts')})"
    if stage == "gate" and "passed" in summary:
        failed = [c["name"] for c in summary.get("checks", []) if not c.get("passed")]
        return "passed" if summary["passed"] else "failed: " + ", ".join(failed)
    return ""


def run_row(run: RunDir) -> dict[str, Any]:
    info = run.info
    return {
        "id": run.id,
        "stage": run.stage,
        "status": run.status,
        "created": info.get("created"),
        "finished": info.get("finished"),
        "seconds": (info.get("summary") or {}).get("seconds"),
        "headline": headline(run),
    }


def find_run(loaded: LoadedProject, stage: str, ref: str) -> RunDir:
    """A run of ``stage`` by its id, whatever its status (the pages show failed runs too)."""
    run = run_by_id(loaded.dir, ref, stage)
    if run is None:
        raise StageError(f"no {stage} run '{ref}'", fix="Pick one from the list on the page.")
    return run


def next_step(latest: dict[str, RunDir | None]) -> str:
    def done(stage: str) -> bool:
        run = latest.get(stage)
        return run is not None and run.status == "succeeded"

    if not done("data"):
        return "Build the dataset (Jobs → data build) or upload examples on the Datasets page."
    if not done("train"):
        return "Train a fine-tune on the latest dataset (Jobs → train)."
    if not done("eval"):
        return "Evaluate the fine-tune against the base model and the baseline (Jobs → eval)."
    if not done("gate"):
        return "Run the release gate on the evaluation (Releases → run the gate)."
    gate = latest["gate"]
    assert gate is not None
    if not (gate.info.get("summary") or {}).get("passed"):
        return "The last gate failed: see Releases for the failing checks, then retrain or tune."
    registered = gate.read_json("gate.json").get("registered") if gate.path("gate.json").is_file() else None
    if registered:
        name, version = registered["model"], registered["version"]
        return (
            f"The last gate passed: promote version {version} of {name} on the Releases page (if not done yet); "
            f"clients then ask for {name}@production."
        )
    return "The last gate passed (tracking is off, so no version was registered): serve the training run's model."


def overview(loaded: LoadedProject) -> dict[str, Any]:
    cfg = loaded.config
    runs = list_runs(loaded.dir)
    latest: dict[str, RunDir | None] = {}
    stages = []
    for stage in STAGES:
        mine = [r for r in runs if r.stage == stage]
        last = mine[-1] if mine else None
        succeeded = [r for r in mine if r.status == "succeeded"]
        latest[stage] = succeeded[-1] if succeeded else last
        stages.append(
            {
                "stage": stage,
                "label": LABELS[stage],
                "runs": len(mine),
                "latest": run_row(last) if last else None,
                "latest_succeeded": run_row(succeeded[-1]) if succeeded and succeeded[-1] is not last else None,
            }
        )
    return {
        "project": {
            "name": cfg.name,
            "use_case": cfg.use_case,
            "system_prompt": cfg.system_prompt,
            "base_model": cfg.base_model.display_name,
            "dir": str(loaded.dir),
        },
        "stages": stages,
        "next": next_step(latest),
    }
