"""The Review page's API: blind items, labels taken from the run's own rows, and every input bounded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_cli_labels import _project
from tunesmith.project import load_project


@pytest.fixture
def client_and_run(tmp_path: Path) -> tuple[Any, Any, Path]:
    from fastapi.testclient import TestClient

    from tunesmith.serve.app import create_app
    from tunesmith.ui.routes import mount

    project, run, _ = _project(tmp_path, "http://127.0.0.1:9/v1")
    app = create_app(load_project(project))
    mount(app)
    return TestClient(app, base_url="http://127.0.0.1"), run, project


def test_review_is_blind_and_labels_carry_the_runs_texts(client_and_run: tuple[Any, Any, Path]) -> None:
    client, run, project = client_and_run
    page = client.get(f"/ui/api/evaluations/{run.id}/review", params={"who": "ana"}).json()
    assert page["total"] == 8 and page["labelled"] == 0 and page["systems"] == ["base", "finetuned"]
    item = page["items"][0]
    assert set(item["shown"][0]) == {"key", "output"}  # no system name reaches the page before a label
    saved = client.post(
        "/ui/api/labels",
        json={"run": run.id, "who": "ana", "keys": [item["shown"][0]["key"]], "passed": True, "score": 4},
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["systems"][0] in ("base", "finetuned")  # revealed after the fact
    again = client.get(f"/ui/api/evaluations/{run.id}/review", params={"who": "ana"}).json()
    assert again["labelled"] == 1 and again["items"][-1]["label"]["score"] == 4  # labelled items go last
    assert again["human"]["labels"] == 1
    (stored,) = [json.loads(line) for line in (project / "labels" / "labels.jsonl").read_text().splitlines()]
    assert stored["output"] == item["shown"][0]["output"] and stored["input"] == item["input"]

    pairs = client.get(
        f"/ui/api/evaluations/{run.id}/review", params={"who": "ana", "mode": "pairwise", "a": "base", "b": "finetuned"}
    ).json()
    keys = [s["key"] for s in pairs["items"][0]["shown"]]
    chose = client.post("/ui/api/labels", json={"run": run.id, "who": "ana", "keys": keys, "choice": "tie"}).json()
    assert chose["preferred"] == "tie" and sorted(chose["systems"]) == ["base", "finetuned"]


def test_review_inputs_are_bounded_with_clear_4xx(client_and_run: tuple[Any, Any, Path]) -> None:
    client, run, project = client_and_run
    url = f"/ui/api/evaluations/{run.id}/review"
    assert client.get(url).status_code == 400  # who is required
    assert client.get(url, params={"who": "x" * 101}).status_code == 400
    assert client.get(url, params={"who": "ana", "mode": "both"}).status_code == 400
    assert client.get(url, params={"who": "ana", "limit": 10_000}).status_code == 400
    same = client.get(url, params={"who": "ana", "mode": "pairwise", "a": "base", "b": "base"})
    assert same.status_code == 400 and "two different systems" in same.json()["error"]["message"]
    assert client.get("/ui/api/evaluations/../../etc/review", params={"who": "a"}).status_code in (400, 404)
    key = client.get(url, params={"who": "ana"}).json()["items"][0]["shown"][0]["key"]
    bad = [
        {"run": run.id, "who": "ana", "keys": [key], "score": 6},
        {"run": run.id, "who": " ", "keys": [key], "passed": True},
        {"run": run.id, "who": "ana", "keys": [key, key, key], "passed": True},
        {"run": run.id, "who": "ana", "keys": ["not-a-key"], "passed": True},
        {"run": run.id, "who": "ana", "keys": [key], "passed": True, "system": "base"},
        {"run": run.id, "who": "ana", "keys": [key], "note": "x" * 2001, "passed": True},
        {"run": "../x", "who": "ana", "keys": [key], "passed": True},
    ]
    for body in bad:
        assert client.post("/ui/api/labels", json=body).status_code == 400, body
    refused = [
        ({"run": run.id, "who": "ana", "keys": ["0" * 16], "passed": True}, "no output with key"),
        ({"run": run.id, "who": "ana", "keys": [key]}, "pass/fail, a 1-5 score"),
        ({"run": run.id, "who": "ana", "keys": [key], "choice": "left"}, "has no choice"),
        ({"run": run.id, "who": "ana", "keys": [key, key], "choice": "left"}, "two systems"),
    ]
    for body, message in refused:
        answer = client.post("/ui/api/labels", json=body)
        assert answer.status_code == 400 and message in answer.json()["error"]["message"], answer.text
    assert not (project / "labels" / "labels.jsonl").exists()  # nothing refused was written
