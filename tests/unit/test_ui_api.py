"""The web workbench's JSON API and its parts, without a model: forms from the config schema, uploads that
account for every row, stage jobs in the job store, the worker running a real command, progress files."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tunesmith.project import Project, load_project
from tunesmith.serve.jobstore import JobStore
from tunesmith.train.config import TrainConfig

PROJECT = """name: uitest
system_prompt: You are a helpful support assistant.
train:
  epochs: 2
"""

GOOD = {
    "messages": [
        {"role": "system", "content": "You are a helpful support assistant."},
        {"role": "user", "content": "Where is my order number {i}?"},
        {"role": "assistant", "content": "Hi! Order {i} ships tomorrow. Happy trails, The Support Team"},
    ]
}


def _upload_lines(n: int = 20) -> str:
    lines = [json.dumps(GOOD).replace("{i}", str(i)) for i in range(n)]
    lines.insert(5, '{"messages": [')  # line 6: not JSON
    lines.insert(9, json.dumps({"messages": [{"role": "user", "content": "no answer"}]}))  # line 10: no assistant turn
    return "\n".join(lines) + "\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "tunesmith.yaml").write_text(PROJECT)
    return tmp_path


@pytest.fixture
def client(project: Path, bundled_tokenizer: Any) -> Any:
    from fastapi.testclient import TestClient

    from tunesmith.serve.app import create_app
    from tunesmith.ui.routes import mount

    loaded = load_project(project)
    app = create_app(loaded)
    # the pages need only the tokenizer of the served model: no weights are loaded here
    app.state.catalog.generator = lambda: SimpleNamespace(tokenizer=bundled_tokenizer)
    mount(app)
    return TestClient(app, base_url="http://127.0.0.1")


def _flatten(fields: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for f in fields:
        out.update(_flatten(f["fields"]) if f["kind"] == "group" else {f["path"]: f})
    return out


def test_train_form_is_the_schema_with_the_projects_values(client: Any) -> None:
    form = client.get("/ui/api/forms/train").json()
    fields = _flatten(form["fields"])
    # every training setting is on the form (a nested section as a group of its own settings), documented by its
    # docstring, at the project's value
    assert {".".join(path.split(".")[:2]) for path in fields} == {f"train.{name}" for name in TrainConfig.model_fields}
    assert fields["train.grpo.generations"]["value"] == 4 and fields["train.grpo.rewards"]["kind"] == "json"
    assert fields["train.epochs"]["value"] == 2 and fields["train.epochs"]["kind"] == "number_or_choice"
    assert fields["train.recipe"]["kind"] == "choice" and "sft-qlora" in fields["train.recipe"]["choices"]
    assert fields["train.lora_r"]["help"] == TrainConfig.model_fields["lora_r"].description
    assert fields["train.max_steps"]["bounds"] == {"minimum": 1}
    assert {"kb", "data", "eval", "gate", "tune", "train"} == {
        k["kind"] for k in client.get("/ui/api/jobs").json()["kinds"]
    }
    # the tune form covers the search and the training it varies
    assert {f["path"] for f in client.get("/ui/api/forms/tune").json()["fields"]} == {"tune", "train"}
    assert set(Project.model_fields) >= {"train", "eval", "tune", "gates"}


def test_a_job_sends_only_changed_settings_and_rejects_bad_values_up_front(client: Any, project: Path) -> None:
    upload = client.post("/ui/api/datasets/upload", files={"file": ("tickets.jsonl", _upload_lines().encode())})
    run = upload.json()["run"]
    bad = client.post("/ui/api/jobs", json={"kind": "train", "values": {"train.max_steps": 0}, "inputs": {"data": run}})
    assert bad.status_code == 400 and "train.max_steps" in bad.json()["error"]["text"]
    unknown = client.post("/ui/api/jobs", json={"kind": "train", "values": {"train.nope": 1}, "inputs": {}})
    assert unknown.status_code == 400 and "train.nope" in unknown.json()["error"]["text"]
    missing = client.post("/ui/api/jobs", json={"kind": "eval", "values": {}, "inputs": {"train": "no-such-run"}})
    assert missing.status_code == 400 and "no run named 'no-such-run'" in missing.json()["error"]["text"]
    job = client.post(
        "/ui/api/jobs",
        json={
            "kind": "train",
            "values": {"train.max_steps": 5, "train.epochs": 2, "train.learning_rate": 0.002},
            "inputs": {"data": run},
        },
    ).json()
    assert job["status"] == "queued" and job["kind"] == "train"
    # epochs is the project's value already: not an override; the CLI gets exactly what changed
    assert job["args"] == [
        "train",
        "--json",
        "--data",
        run,
        "--set",
        "train.max_steps=5",
        "--set",
        "train.learning_rate=0.002",
    ]
    listed = client.get("/ui/api/jobs").json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]
    cancelled = client.post(f"/ui/api/jobs/{job['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"  # a queued job is cancelled at once
    again = client.post(f"/ui/api/jobs/{job['id']}/cancel")
    assert again.status_code == 400 and "already cancelled" in again.json()["error"]["text"]


def test_upload_accounts_for_every_row_and_pages_show_it(client: Any, project: Path) -> None:
    report = client.post("/ui/api/datasets/upload", files={"file": ("tickets.jsonl", _upload_lines().encode())}).json()
    assert report["rows"] == 22 and sum(report["examples"].values()) == 20
    assert [p.split(":")[0] for p in report["problems"]] == ["line 6", "line 10"]
    assert report["examples"]["test"] >= 3 and report["examples"]["val"] >= 1
    run = report["run"]
    detail = client.get(f"/ui/api/datasets/{run}").json()
    assert detail["manifest"]["accounted"] and detail["problems"] == 2
    assert len(detail["manifest"]["source_files"]["tickets.jsonl"]["sha256"]) == 64  # for lineage
    assert sum(b["count"] for b in detail["histogram"]) == 20  # token counts from the served model's tokenizer
    rejects = client.get(f"/ui/api/datasets/{run}/rejects").json()["rows"]
    assert [r["where"] for r in rejects] == ["tickets.jsonl:6", "tickets.jsonl:10"]
    found = client.get(f"/ui/api/datasets/{run}/examples", params={"q": "order 7"}).json()
    assert found["total"] == 1 and found["rows"][0]["where"] == "tickets.jsonl:9"
    only_test = client.get(f"/ui/api/datasets/{run}/examples", params={"split": "test", "limit": 100}).json()
    assert only_test["total"] == report["examples"]["test"] and {r["split"] for r in only_test["rows"]} == {"test"}
    mask = client.get(f"/ui/api/datasets/{run}/mask", params={"id": found["rows"][0]["id"]}).json()
    trained = "".join(t["text"] for t in mask["tokens"] if t["trained"])
    untrained = "".join(t["text"] for t in mask["tokens"] if not t["trained"])
    assert "Order 7 ships tomorrow" in trained and "<|im_end|>" in trained  # the reply and its end-of-turn token
    assert "Where is my order" in untrained and "Where" not in trained
    overview = client.get("/ui/api/overview").json()
    data_stage = next(s for s in overview["stages"] if s["stage"] == "data")
    assert data_stage["latest"]["id"] == run and "Train a fine-tune" in overview["next"]


def test_pages_are_served_locally_and_the_api_is_guarded_by_keys(project: Path) -> None:
    from fastapi.testclient import TestClient

    from tunesmith.serve.app import create_app
    from tunesmith.ui.routes import STATIC, mount

    loaded = load_project(project)
    app = create_app(loaded, api_keys=["sekret"])
    mount(app)
    client = TestClient(app, base_url="http://127.0.0.1")
    page = client.get("/")
    assert page.status_code == 200 and '<main id="main"' in page.text
    # no asset from elsewhere: every script and stylesheet is ours
    for asset in STATIC.rglob("*"):
        if asset.is_file():
            text = asset.read_text()
            assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text, asset
            assert client.get(f"/ui/static/{asset.relative_to(STATIC)}").status_code == 200
    assert client.get("/ui/api/overview").status_code == 401
    assert client.get("/ui/api/overview", headers={"Authorization": "Bearer sekret"}).status_code == 200


def test_worker_runs_a_stage_job_and_reports_its_failure_in_one_line(project: Path) -> None:
    from tunesmith.serve.worker import Worker, task_paths

    (project / "kb").mkdir()
    (project / "kb" / "returns.md").write_text("# Returns\n\nUnused items can be returned within 60 days.\n")
    (project / "tunesmith.yaml").write_text(PROJECT + "knowledge:\n  paths: [kb]\n")
    store = JobStore(project / ".tunesmith" / "serve")
    worker = Worker(project, store)
    ok = store.create_task("kb", "Index", ["kb", "ingest", "--json"], {})
    bad = store.create_task("gate", "Gate", ["gate", "--json"], {})  # nothing evaluated yet
    assert worker.step() and worker.step() and not worker.step()
    ok, bad = store.get_task(ok["id"]), store.get_task(bad["id"])
    assert ok["status"] == "succeeded" and ok["result"]["chunks"] >= 1, ok
    log, progress_file = task_paths(store, ok["id"])
    assert "Indexing knowledge base" in log.read_text()
    assert json.loads(progress_file.read_text())["tasks"] == []  # every bar closed
    assert bad["status"] == "failed" and "no finished eval run" in bad["error"] and "Traceback" not in bad["error"]


def test_a_job_orphaned_by_a_dead_worker_resumes_training_from_its_run(project: Path) -> None:
    from tunesmith.serve.worker import Worker

    store = JobStore(project / ".tunesmith" / "serve")
    task = store.create_task("train", "Train", ["train", "--json", "--data", "d1"], {})
    store.claim_task(pid=2**22 + 12345)  # a worker pid that is not alive
    store.update_task(task["id"], run="20260101-000000-train")
    Worker(project, store)._requeue_orphan_tasks()
    again = store.get_task(task["id"])
    assert again["status"] == "queued" and again["args"] == [
        "train",
        "--resume",
        "--run",
        "20260101-000000-train",
        "--json",
    ]


def test_progress_bars_are_written_for_the_ui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tunesmith.core import progress

    target = tmp_path / "progress.json"
    monkeypatch.setenv(progress.PROGRESS_ENV, str(target))
    with progress.task("Outer", 3) as outer:
        outer(1)
        with progress.task("Inner", 10) as inner:
            inner(4, info="warming up")
            time.sleep(0.35)  # past the write throttle
            inner(1)
            shown = json.loads(target.read_text())["tasks"]
            assert [(t["description"], t["done"], t["total"]) for t in shown] == [("Outer", 1, 3), ("Inner", 5, 10)]
            assert shown[1]["info"] == "warming up"
    assert json.loads(target.read_text())["tasks"] == []
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_not_applicable_metrics_reach_the_pages_as_null() -> None:
    # a run file keeps NaN for "not applicable" (a citation metric of a system without retrieval); Starlette's
    # JSON refuses NaN, and a browser's JSON.parse cannot read it
    from tunesmith.ui.routes import _response_class

    body = {"systems": {"base": {"citation_recall": {"mean": float("nan"), "low": float("nan"), "n": 0}}}, "x": 0.5}
    rendered = json.loads(_response_class()(body).body)
    assert rendered == {"systems": {"base": {"citation_recall": {"mean": None, "low": None, "n": 0}}}, "x": 0.5}
