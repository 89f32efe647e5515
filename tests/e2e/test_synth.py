"""Knowledge-base Q&A synthesis: against an endpoint teacher that is killed mid-run and resumed, and inside
`data build` with the bundled model as the teacher."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLE, REPO, run_cli

pytestmark = pytest.mark.e2e
CHUNKS = 24


def _project(tmp_path: Path, name: str, kb_qa: dict[str, object]) -> Path:
    folder = tmp_path / name
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".tunesmith", "runs", "demo", "mlflow"))
    config = yaml.safe_load((folder / "tunesmith.yaml").read_text())
    config["data"]["kb_qa"] = kb_qa
    (folder / "tunesmith.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_killed_synthesis_resumes_with_nothing_lost_or_repeated(tmp_path: Path) -> None:
    port, log = _free_port(), tmp_path / "requests.log"
    server = subprocess.Popen(
        [sys.executable, str(REPO / "tests/fixtures/fake_teacher_server.py"), str(port), str(log)]
    )
    try:
        kb_qa = {
            "teacher": {"endpoint": f"http://127.0.0.1:{port}/v1", "model": "fake-teacher", "max_concurrency": 4},
            "chunks": CHUNKS,
            "batch_size": 4,
        }
        # the reference: one uninterrupted run
        reference = _project(tmp_path, "reference", kb_qa)
        result = run_cli("synth", "qa", "--json", cwd=reference)
        assert result.returncode == 0, result.stderr
        expected = json.loads(result.stdout)
        assert expected["chunks"] == CHUNKS and expected["examples"] > CHUNKS // 2
        [ref_run] = list((reference / "runs").glob("*-synth"))
        reference_requests = len(log.read_text().splitlines())

        # the same run, killed once a few batches are journaled (on a copy of the index the first run built:
        # the knowledge base is the same, and indexing it again would only cost time)
        project = _project(tmp_path, "killed", kb_qa)
        shutil.copytree(reference / ".tunesmith" / "kb", project / ".tunesmith" / "kb")
        env = {**os.environ, "NO_COLOR": "1"}
        process = subprocess.Popen(
            [sys.executable, "-m", "tunesmith", "synth", "qa"],
            cwd=project,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 300
        journal = None
        while time.time() < deadline:
            found = list((project / "runs").glob("*-synth/journal.jsonl")) if (project / "runs").exists() else []
            if found and len(found[0].read_text().splitlines()) >= 12:
                journal = found[0]
                break
            time.sleep(0.1)
        assert journal is not None, "the run never journaled 12 generations"
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        done_before = len(journal.read_text().splitlines())
        assert done_before < expected["journal_entries"], "killed too late to test anything"
        before_resume = len(log.read_text().splitlines())

        result = run_cli("synth", "qa", "--resume", "--json", cwd=project)
        assert result.returncode == 0, result.stderr
        resumed = json.loads(result.stdout)
        assert resumed["journal_resumed"] >= done_before - 1  # a line torn by the kill is redone

        run = journal.parent
        assert json.loads((run / "run.json").read_text())["status"] == "succeeded"
        # no lost and no duplicated rows: exactly what the uninterrupted run produced
        for name in ("qa.jsonl", "preference.jsonl", "rejects.jsonl"):
            assert _rows(run / name) == _rows(ref_run / name), name
        ids = [r["id"] for r in _rows(run / "qa.jsonl")]
        assert len(ids) == len(set(ids)) == expected["examples"]
        # finished generations were not requested again; at most the batch in flight at the kill was
        resumed_requests = len(log.read_text().splitlines()) - before_resume
        in_first_part = before_resume - reference_requests
        assert in_first_part + resumed_requests <= reference_requests + 4
        assert resumed_requests < reference_requests
    finally:
        server.terminate()
        server.wait(10)


def test_data_build_adds_grounded_kb_qa_examples_from_the_bundled_teacher(tmp_path: Path) -> None:
    project = _project(tmp_path, "bundled", {"chunks": 6, "batch_size": 6})
    result = run_cli("data", "build", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    [run] = list((project / "runs").glob("*-data"))
    manifest = json.loads((run / "manifest.json").read_text())
    stats = manifest["kb_qa"]
    assert stats["chunks"] == 6 and manifest["accounted"]
    rejects = _rows(run / "rejects.jsonl")
    qa_rejects = [r for r in rejects if str(r["stage"]).startswith("kb-qa/")]
    train = _rows(run / "train.jsonl")
    qa_train = [r for r in train if str(r["id"]).startswith("kbqa-")]
    # every question became an example or a reject with its reason; chunks without a question are rejects too
    assert stats["questions"] == stats["examples"] + sum(1 for r in qa_rejects if r.get("question"))
    assert (
        len({r["where"] for r in qa_rejects if not r.get("question")})
        + len({r["meta"]["provenance"]["chunks"][0]["chunk_id"] for r in qa_train})
        <= stats["chunks"]
    )
    for record in qa_train:
        provenance = record["meta"]["provenance"]
        assert provenance["strategy"] == "kb-qa" and provenance["teacher"] == "smollm2-135m-instruct"
        assert provenance["chunks"][0]["source"].startswith("kb/") and provenance["grounding"]["score"] >= 0.55
        assert "Facts from the knowledge base:" in record["messages"][-2]["content"]
    assert all(r["meta"]["split"] == "train" for r in qa_train)
    assert summary["examples"]["train"] >= 140
