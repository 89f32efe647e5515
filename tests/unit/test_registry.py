"""Tracking, registry, promotion and lineage on a real MLflow store (SQLite in the project folder).

Run folders are written as the stages write them (small, no model), so these
tests pin the registry's rules: every gated model gets a version, only a
version whose gate passed can take an alias, lineage walks back to the files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, run_cli, wait_healthy
from tunesmith.core.rundir import RunDir
from tunesmith.gate.release import register_gated
from tunesmith.pipeline import Context
from tunesmith.project import load_project
from tunesmith.registry.tracking import log_quietly
from tunesmith.train.layout import trained_weights

CHECK = {
    "name": "fine-tune beats the prompted baseline",
    "rule": "finetuned beats baseline on rouge_l by > 0",
    "system": "finetuned",
    "metric": "rouge_l",
    "value": 0.16,
    "low": 0.12,
    "high": 0.19,
    "kind": "metric",
    "evidence": None,
    "details": {},
}


def _runs(project: Path) -> dict[str, RunDir]:
    root = project / "runs"
    data = RunDir.create(root, "data", {"split": {"test": 0.2}})
    data.write_json(
        "manifest.json",
        {
            "version": "abc123",
            "rows_in": 30,
            "examples": {"train": 20, "val": 4, "test": 6},
            "removed": {"near_duplicate": 1},
            "source_files": {"data/golden.jsonl": {"sha256": "f" * 64, "bytes": 1234}},
            "knowledge_files": {"kb/a.md": "0" * 64},
            "clean": {"pii_found": {"email": 2}, "names_checked": False},
            "leakage": {"exact": 0, "near": 0},
        },
    )
    data.record_inputs(dataset_version="abc123")
    data.finish("succeeded", summary={"examples": 30})
    train = RunDir.create(root, "train", {"recipe": "sft-lora", "learning_rate": "auto"})
    (train.path("adapter")).mkdir()
    train.path("adapter", "adapter_config.json").write_text('{"r": 8}')
    train.path("adapter", "adapter_model.safetensors").write_bytes(b"\0" * 64)
    train.path("metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "loss": 2.0 / s, "time": 1.7e9 + s}) + "\n" for s in (1, 2, 3))
    )
    train.record_inputs(data_run=data.id, dataset_version="abc123", base_model="bundled:smollm2-135m-instruct")
    train.finish(
        "succeeded",
        summary={
            "recipe": "sft-lora",
            "final_val_loss": 1.2,
            "seconds": 60,
            "hyperparameters": {"learning_rate": 0.001, "epochs": 2, "lora_r": 16},
        },
    )
    evaluation = RunDir.create(root, "eval", {})
    evaluation.write_json(
        "summary.json",
        {
            "primary": "rouge_l",
            "test_examples": 6,
            "systems": {
                "baseline": {"rouge_l": {"mean": 0.2, "low": 0.18, "high": 0.22}},
                "finetuned": {"rouge_l": {"mean": 0.36, "low": 0.33, "high": 0.4}},
            },
            "finetuned_vs_baseline": {"metric": "rouge_l", "diff": {"mean": 0.16, "low": 0.12, "high": 0.19}},
            "probe": {
                "items": 40,
                "accuracy": {
                    "base": {"mean": 0.55, "low": 0.4, "high": 0.7},
                    "finetuned": {"mean": 0.5, "low": 0.35, "high": 0.67},
                },
                "finetuned_vs_base": {"diff": {"mean": -0.05, "low": -0.22, "high": 0.12}},
            },
        },
    )
    evaluation.record_inputs(data_run=data.id, train_run=train.id, dataset_version="abc123")
    evaluation.finish("succeeded", summary={"primary": "rouge_l"})
    return {"data": data, "train": train, "eval": evaluation}


def track(ctx: Context, run: RunDir) -> str | None:
    """Log a run folder as `tunesmith` does after every stage."""
    return log_quietly(lambda: ctx.tracker, run, weights=trained_weights(run) if run.stage == "train" else None)


def _gate(project: Path, ctx: Context, runs: dict[str, RunDir], passed: bool) -> tuple[RunDir, str | None]:
    gate_run = RunDir.create(project / "runs", "gate", {})
    check = {**CHECK, "passed": passed, "reason": "lower bound +0.12 > 0" if passed else "lower bound +0.12 <= 0.9"}
    gate = {"passed": passed, "checks": [check]}
    gate_run.write_json("gate.json", gate)
    cfg = ctx.project.config
    version = register_gated(
        ctx.tracker,
        project={"name": cfg.name, "use_case": cfg.use_case, "system_prompt": "", "base_model": cfg.base_model.id},
        gate_run=gate_run,
        gate=gate,
        data_run=runs["data"],
        train_run=runs["train"],
        eval_run=runs["eval"],
    )
    gate_run.finish("succeeded", summary=gate)
    track(ctx, gate_run)
    return gate_run, version


@pytest.fixture()
def project(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "tunesmith.yaml").write_text("name: acme\nuse_case: Answer Acme's support tickets.\n")
    ctx = Context.for_project(load_project(tmp_path))
    runs = _runs(tmp_path)
    for run in runs.values():
        track(ctx, run)
    passed_run, passed = _gate(tmp_path, ctx, runs, True)
    failed_run, failed = _gate(tmp_path, ctx, runs, False)
    return {"dir": tmp_path, "ctx": ctx, "runs": runs, "passed": passed, "failed": failed, "failed_run": failed_run}


def test_stage_runs_are_logged_with_params_metrics_dataset_and_weights(project: dict[str, Any]) -> None:
    tracker = project["ctx"].tracker
    assert tracker.uri == f"sqlite:///{(project['dir'] / 'mlflow' / 'mlflow.db').resolve()}"
    train = project["runs"]["train"]
    run = tracker.client.get_run(train.info["mlflow_run_id"])
    assert run.data.params["recipe"] == "sft-lora" and run.data.tags["tunesmith.dataset_version"] == "abc123"
    assert run.data.metrics["hyperparameters.learning_rate"] == 0.001
    assert [m.value for m in tracker.client.get_metric_history(run.info.run_id, "curve.loss")] == [2.0, 1.0, 2.0 / 3]
    assert run.inputs.dataset_inputs[0].dataset.digest == "abc123"
    artifacts = {a.path for a in tracker.client.list_artifacts(run.info.run_id, "weights")}
    assert "weights/adapter_config.json" in artifacts
    # logging again replaces the MLflow run instead of adding a second one
    track(project["ctx"], train)
    found = tracker.client.search_runs([tracker.experiment_id], f"tags.`tunesmith.run_id` = '{train.id}'")
    assert len(found) == 1


def test_every_gated_model_is_a_version_with_its_verdict_and_card(project: dict[str, Any]) -> None:
    tracker = project["ctx"].tracker
    assert (project["passed"], project["failed"]) == ("1", "2")
    one = tracker.client.get_model_version("acme", "1")
    two = tracker.client.get_model_version("acme", "2")
    assert one.tags["tunesmith.gate"] == "passed" and two.tags["tunesmith.gate"] == "failed"
    assert one.tags["tunesmith.finetuned.rouge_l"] == "0.3600 [0.3300, 0.4000]"
    assert one.source.startswith("runs:/") and one.source.endswith("/weights")
    card = one.description
    assert "# acme — version 1" in card and "Answer Acme's support tickets." in card
    assert "| finetuned | 0.360 [0.330, 0.400] |" in card and "+0.160 [+0.120, +0.190]" in card
    assert "General-skills accuracy dropped by 5 points" in card and "Personal names were not scanned" in card
    assert "Failed gate check" in two.description
    assert (project["failed_run"].path("model_card.md")).read_text() == two.description


def test_promote_only_past_a_passed_gate(project: dict[str, Any]) -> None:
    directory = str(project["dir"])
    refused = run_cli("promote", "acme:2", "-p", directory)
    assert refused.returncode == 2 and "did not pass its release gate (failed: fine-tune beats" in refused.stderr
    # editing the tag in the MLflow UI does not get around the gate: the gate run's own gate.json decides
    project["ctx"].tracker.client.set_model_version_tag("acme", "2", "tunesmith.gate", "passed")
    assert run_cli("promote", "2", "-p", directory).returncode == 2

    promoted = run_cli("promote", "1", "-p", directory, "--json")
    assert promoted.returncode == 0, promoted.stderr
    assert json.loads(promoted.stdout) | {"at": None} == {
        "model": "acme",
        "version": "1",
        "alias": "production",
        "previous": None,
        "at": None,
    }
    listed = json.loads(run_cli("registry", "list", "-p", directory, "--json").stdout)
    assert [(v["version"], v["gate"], v["aliases"]) for v in listed] == [
        ("1", "passed", ["production"]),
        ("2", "passed", []),
    ]


def test_lineage_walks_from_files_to_deployment(project: dict[str, Any]) -> None:
    from tunesmith.registry.lineage import lineage, lineage_lines
    from tunesmith.registry.models import parse_ref, promote

    tracker = project["ctx"].tracker
    promote(tracker, parse_ref("1", "acme"), "production")
    chain = lineage(tracker, parse_ref("acme@production", "acme"), project["dir"])
    assert chain["version"] == "1" and chain["sources"]["files"]["data/golden.jsonl"]["sha256"] == "f" * 64
    assert chain["dataset"]["version"] == "abc123" and chain["dataset"]["run"] == project["runs"]["data"].id
    assert chain["training"]["run"] == project["runs"]["train"].id and chain["training"]["recipe"] == "sft-lora"
    assert chain["evaluation"]["finetuned"]["mean"] == 0.36 and chain["gate"]["passed"] is True
    assert chain["deployment"]["aliases"] == ["production"] and chain["deployment"]["serve_as"] == ["acme@production"]
    text = "\n".join(t for _, t in lineage_lines(chain))
    for piece in (
        "data/golden.jsonl (sha256 ffffffffffff)",
        "dataset abc123",
        "sft-lora",
        "+0.160 [+0.120, +0.190]",
        "PASSED (1/1 checks)",
        "@production since",
    ):
        assert piece in text
    printed = run_cli("lineage", "acme@production", "-p", str(project["dir"]))
    assert printed.returncode == 0 and "deployment: @production" in printed.stdout


def test_served_by_alias(project: dict[str, Any]) -> None:
    pytest.importorskip("fastapi")
    from tunesmith.registry.models import parse_ref, promote
    from tunesmith.serve.catalog import ModelCatalog

    promote(project["ctx"].tracker, parse_ref("1", "acme"), "production")
    catalog = ModelCatalog(project["ctx"].project, project["ctx"].pool)
    served = {m.id: m for m in catalog.models()}
    assert served["acme@production"].adapter_path == (project["runs"]["train"].path("adapter")).resolve()


def test_model_references() -> None:
    from tunesmith.registry.models import VersionRef, parse_ref

    assert parse_ref(None, "acme") == VersionRef("acme")
    assert parse_ref("3", "acme") == VersionRef("acme", version="3")
    assert parse_ref("@staging", "acme") == VersionRef("acme", alias="staging")
    assert parse_ref("other:4", "acme") == VersionRef("other", version="4")
    assert parse_ref("other@production", "acme") == VersionRef("other", alias="production")


def test_unreachable_tracking_server_warns_and_keeps_the_run(tmp_path: Path) -> None:
    (tmp_path / "tunesmith.yaml").write_text("name: acme\ntracking:\n  uri: http://127.0.0.1:9\n")
    ctx = Context.for_project(load_project(tmp_path))
    run = RunDir.create(tmp_path / "runs", "data", {})
    run.finish("succeeded", summary={})
    import os

    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    try:
        assert track(ctx, run) is None
    finally:
        del os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]
    assert run.status == "succeeded" and "mlflow_run_id" not in run.info


def test_mlflow_ui_serves_the_project_store(project: dict[str, Any]) -> None:
    import os
    import signal
    import subprocess
    import sys

    import httpx

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tunesmith", "registry", "ui", "--port", str(port), "-p", str(project["dir"])],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # the UI is a child process: stop the whole group
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(process, f"{base}/health")
        versions = httpx.get(
            f"{base}/api/2.0/mlflow/model-versions/search", params={"filter": "name='acme'"}, timeout=10
        ).json()["model_versions"]
        assert {
            (v["version"], dict((t["key"], t["value"]) for t in v["tags"])["tunesmith.gate"]) for v in versions
        } == {
            ("1", "passed"),
            ("2", "failed"),
        }
        assert "<!doctype html>" in httpx.get(base, timeout=10).text.lower()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_sync_logs_what_was_missed_once(project: dict[str, Any]) -> None:
    missed = RunDir.create(project["dir"] / "runs", "baseline", {"limit": 4})
    missed.finish("succeeded", summary={"best": 0.2})
    first = run_cli("registry", "sync", "-p", str(project["dir"]))
    assert first.returncode == 0 and "logged 1 run(s)" in first.stderr, first.stderr
    assert "mlflow_run_id" in missed.info
    again = run_cli("registry", "sync", "-p", str(project["dir"]))
    assert "logged 0 run(s)" in again.stderr


def test_two_processes_first_using_a_new_store_at_once_both_track(tmp_path: Path) -> None:
    """MLflow creates and migrates a SQLite store on first use; two processes doing it at once (two tuning
    workers on a new project) failed one of them with "duplicate column name"."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    workers = [context.Process(target=_track_one_run, args=(str(tmp_path), tag, start, results)) for tag in "ab"]
    for worker in workers:
        worker.start()
    start.set()
    outcomes = dict(results.get(timeout=180) for _ in workers)
    for worker in workers:
        worker.join(timeout=60)
    assert outcomes == {"a": "tracked", "b": "tracked"}, outcomes


def _track_one_run(folder: str, tag: str, start: Any, results: Any) -> None:
    import mlflow  # noqa: F401  (imported before the start, so both reach the store together)

    from tunesmith.registry.config import TrackingConfig
    from tunesmith.registry.tracking import Tracker

    root = Path(folder)
    run = RunDir.create(root / "runs", "data", {}, name=f"run-{tag}")
    run.finish("succeeded", summary={"examples": 3})
    start.wait()
    try:
        Tracker(TrackingConfig(), root, "acme").log_run(run)
        results.put((tag, "tracked"))
    except Exception as exc:
        results.put((tag, f"{type(exc).__name__}: {str(exc)[:200]}"))
