"""`tunesmith tune`: a small study scored on the validation split, its report, a trial reproduced with
`train --from-trial`, and two worker processes sharing one study in a real PostgreSQL.

The study's mechanics (sampling, pruning, scoring, reporting, sharing) run on the tiny model of the bundled
model's family (tests/tiny_model.py): what a trial learns does not matter here, that it is trained, scored on
the validation split and reported does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLE, run_cli

pytestmark = pytest.mark.e2e

TUNE = {
    # the study's own mechanics: a tiny random model cannot pass the project's gates, so they are not held here
    # (the gate-constrained study runs on the real model in test_demo_quick.py, the remedy below)
    "constraints": "none",
    "trials": 2,
    "val_limit": 4,
    "max_new_tokens": 24,
    "search_space": {"learning_rate": {"low": 5e-4, "high": 3e-3, "log": True}, "lora_r": {"choices": [8, 16]}},
}
TRAIN = {
    "max_steps": 4,
    "eval_steps": 2,
    "save_steps": 2,
    "batch_size": 4,
    "stop_check": 0,
    "learning_rate": 0.001,
    "lora_r": 16,
    "max_length": 384,
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    folder = tmp_path_factory.mktemp("tune") / "northwind"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".tunesmith", "runs", "demo", "mlflow"))
    config = yaml.safe_load((folder / "tunesmith.yaml").read_text())
    config["models"] = {"base": str(tiny_model)}
    config["data"]["points"] = 0  # no knowledge-base index needed to tune
    config["train"] = {**config.get("train", {}), **TRAIN}
    config["train"].pop("epochs", None)
    config["tune"] = TUNE
    (folder / "tunesmith.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_cli("data", "build", "--json", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder


def test_study_report_and_reproducing_a_trial(project: Path) -> None:
    result = run_cli("tune", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    trials = summary["trials"]
    assert len(trials) == 2 and summary["metric"] == "rouge_l"
    assert trials[0]["default"] and trials[0]["params"] == {"learning_rate": 0.001, "lora_r": 16}
    finished = [t for t in trials if t["state"] in ("complete", "pruned")]
    assert len(finished) == 2
    for t in trials:
        if t["state"] == "complete":
            assert 0.0 <= t["value"] <= 1.0 and t["train_run"]
            run = json.loads(next((project / "runs").glob(f"{t['train_run']}/run.json")).read_text())
            assert run["inputs"]["tune_trial"] == t["number"]
    assert summary["best"]["value"] == max(t["value"] for t in trials if t["value"] is not None)
    if summary["best"]["number"] != 0:
        d = summary["best_vs_default"]["diff"]
        assert d["low"] <= d["mean"] <= d["high"]
    [tune_run] = list((project / "runs").glob("*-tune"))
    assert (tune_run / "report.html").read_text().count("<tr>") == 3 and "<svg" in (
        tune_run / "report.html"
    ).read_text()
    # the test split was never generated for: only validation examples were scored
    assert json.loads((tune_run / "run.json").read_text())["inputs"]["data_run"]

    # every scored trial is an MLflow run with its score, beside the tune run itself
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow' / 'mlflow.db'}")
    [experiment] = [e for e in client.search_experiments() if e.name == "northwind-support"]
    logged = {r.data.tags["tunesmith.run_id"]: r for r in client.search_runs([experiment.experiment_id])}
    for t in trials:
        if t["state"] == "complete":
            assert logged[t["train_run"]].data.metrics["tune_rouge_l"] == pytest.approx(t["value"], abs=1e-6)
    assert logged[tune_run.name].data.metrics["best.value"] == pytest.approx(summary["best"]["value"])

    best = summary["best"]
    plan = run_cli("train", "--from-trial", str(best["number"]), "--dry-run", "--json", cwd=project)
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["learning_rate"] == pytest.approx(best["params"]["learning_rate"])


def test_two_workers_share_a_study_in_postgresql(project: Path, postgres_url: str) -> None:
    # one thread each: two torch processes on 2 cores with 2 threads each thrash (as two machines would not)
    env = {**os.environ, "NO_COLOR": "1", "TUNE_DB": postgres_url, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    args = [
        sys.executable,
        "-m",
        "tunesmith",
        "tune",
        "--study",
        "shared",
        "--trials",
        "2",
        "--json",
        "--set",
        "tune.storage_env=TUNE_DB",
        "--set",
        "tune.val_limit=2",
        "--set",
        "train.max_steps=2",
    ]
    workers = [
        subprocess.Popen(args, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=900) for w in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    import optuna

    study = optuna.load_study(study_name="shared", storage=postgres_url)
    done = [t for t in study.trials if t.state.is_finished()]
    assert len(done) >= 2 and len({t.number for t in done}) == len(done)
    # both processes worked on it: each one's train runs are tagged with trial numbers of the one study
    runs = {
        json.loads(p.read_text())["pid"]
        for p in (project / "runs").glob("*-train*/run.json")
        if json.loads(p.read_text())["inputs"].get("tune_trial") is not None
    }
    assert {w.pid for w in workers} <= runs


def test_remedy_searches_on_validation_and_says_when_nothing_passes(project: Path) -> None:
    """`run --remedy` after a failed gate: a bounded search aimed at the failed check, on validation data only;
    with no feasible trial the run stops with the study's report of what each trial failed (exit 1)."""
    result = run_cli(
        "run",
        "--remedy",
        "--remedy-trials",
        "1",
        "--json",
        "--set",
        "gates.checks=[{name: near perfect, metric: rouge_l, system: finetuned, min: 0.99}]",
        *("--set", "gates.retention=null", "--set", "gates.regression=null", "--set", "gates.refusal=null"),
        *("--set", "gates.pii=null", "--set", "eval.probe=false", "--set", "baseline.limit=2"),
        *("--set", "eval.limit=4", "--set", "eval.metrics=[rouge_l]", "--set", "train.replay=0"),
        # no retrieval anywhere, so no knowledge-base index to build: the search is what is tested
        *("--set", "eval.systems=[finetuned]", "--set", "baseline.templates=[{name: plain, system: Be brief.}]"),
        cwd=project,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["gate_passed"] is False and summary["promoted"] is None
    remedy = summary["remedy"]
    assert remedy["failed"] == ["near perfect"] and remedy["status"] == "no feasible trial"
    # a metric check is moved by how much is learned: learning rate, epochs and rank around the run's own values
    assert {"learning_rate", "epochs", "lora_r"} <= set(remedy["space"]) and remedy["trials"] == 1
    [infeasible] = remedy["infeasible"]
    [failed] = infeasible["failed"]
    assert infeasible["number"] == 0 and failed.startswith("near perfect: rouge_l = ") and "on validation" in failed
    assert "no finished trial met every gate check" in remedy["why"]
    assert "remedy: no feasible trial" in result.stderr
    # the search never touched the test split: with nothing feasible, the first evaluation stays the only one
    assert (Path(remedy["search"]) / "report.html").is_file()
    evals = [p for p in (project / "runs").rglob("run.json") if json.loads(p.read_text())["stage"] == "eval"]
    assert len(evals) == 1
