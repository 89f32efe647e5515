"""What a gate run leaves behind for release: a registry version with its verdict, and its model card.

Every gated model becomes a version in the model registry whatever the verdict; its tags say whether it
may be promoted (`tunesmith promote` reads the verdict from the gate run itself, so editing a tag does not
get around it). The card is written from the runs' own records.
"""

from __future__ import annotations

from typing import Any

from tunesmith.core.atomic import atomic_write_text
from tunesmith.core.progress import note
from tunesmith.core.rundir import RunDir
from tunesmith.gate.card import model_card
from tunesmith.registry.models import GATE_TAG, register
from tunesmith.train.layout import trained_weights


def register_gated(
    tracker: Any,
    *,
    project: dict[str, Any],
    gate_run: RunDir,
    gate: dict[str, Any],
    data_run: RunDir | None,
    train_run: RunDir | None,
    eval_run: RunDir | None,
) -> str | None:
    """Register the gated model (when tracking is on and there is one) and write model_card.md; the version."""
    evaluation = eval_run.read_json("summary.json") if eval_run else None
    runs = {"data": data_run, "train": train_run, "eval": eval_run}
    version: str | None = None
    if tracker is not None and train_run is not None:
        try:
            version = _register(tracker, project, gate_run, gate, runs, evaluation or {})
        except Exception as exc:  # the store is reachable or not; the verdict stands either way
            note(f"[yellow]not registered ({type(exc).__name__}: {exc});[/] the gate's verdict stands")
    card = model_card(
        version=version,
        project=project,
        data=data_run.read_json("manifest.json") if data_run and data_run.path("manifest.json").is_file() else None,
        train=train_run.info.get("summary") if train_run else None,
        evaluation=evaluation,
        gate=gate,
        runs={k: v.id for k, v in runs.items() if v is not None},
    )
    atomic_write_text(gate_run.path("model_card.md"), card)
    if version is not None:
        tracker.client.update_model_version(tracker.model_name, version, description=card)
    return version


def _register(
    tracker: Any,
    project: dict[str, Any],
    gate_run: RunDir,
    gate: dict[str, Any],
    runs: dict[str, RunDir | None],
    evaluation: dict[str, Any],
) -> str:
    train_run, eval_run, data_run = runs["train"], runs["eval"], runs["data"]
    assert train_run is not None
    weights = trained_weights(train_run)
    train_mlflow = tracker.mlflow_run_id(train_run) or tracker.log_run(train_run, weights=weights)
    source = f"runs:/{train_mlflow}/weights" if tracker.logs_weights(weights) else weights.resolve().as_uri()
    tags = {
        GATE_TAG: "passed" if gate["passed"] else "failed",
        "tunesmith.gate_run": gate_run.id,
        "tunesmith.gate_run_dir": str(gate_run.root.resolve()),
        "tunesmith.train_run": train_run.id,
        "tunesmith.eval_run": eval_run.id if eval_run else "",
        "tunesmith.data_run": data_run.id if data_run else "",
        "tunesmith.dataset_version": str(train_run.info.get("inputs", {}).get("dataset_version", "")),
        "tunesmith.base_model": project["base_model"],
        "tunesmith.recipe": str(train_run.info.get("summary", {}).get("recipe", "")),
        "tunesmith.weights": str(weights.resolve()),
    }
    primary = evaluation.get("primary")
    score = (evaluation.get("systems", {}).get("finetuned") or {}).get(primary or "")
    if score:
        tags[f"tunesmith.finetuned.{primary}"] = f"{score['mean']:.4f} [{score['low']:.4f}, {score['high']:.4f}]"
    return register(tracker, source=source, run_id=train_mlflow, tags=tags, description=project["use_case"] or None)
