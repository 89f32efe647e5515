"""OpenAI's files + fine-tuning jobs API on `tunesmith serve`, driven by the official `openai` client:
upload, create, poll to succeeded, events, checkpoints, chat and stream with the `ft:` model, cancel,
a restart during a job, and API keys.

The jobs train the tiny model of the bundled model's family (tests/tiny_model.py): the API, the worker and
the job lifecycle are what is tested; the demo test chats with the real fine-tuned model through the same
server."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import EXAMPLE, run_cli
from tests.server import Server, free_port

pytestmark = pytest.mark.e2e

BASE = "tiny-smollm2"
PROJECT = """name: ftapi
system_prompt: You are Northwind Outfitters' customer support assistant.
models:
  base: {{id: {model}, name: tiny-smollm2}}
train:
  max_steps: {steps}
  save_steps: {save_steps}
  batch_size: 2
  max_length: 384
  stop_check: 0
  # a random model needs large steps to change its answers within a few of them: at 0.01 six steps moved the
  # loss 10.79 -> 10.63 and left the greedy answer the base model's (blank lines) for one data order; at 0.03
  # the step-4 checkpoint answers " damage damage ..." and the final model "erest erest ...", unlike step 2
  learning_rate: 0.03
serve:
  max_new_tokens: 48
  # tiny on purpose: every adapter load evicts the one before, while requests for both arrive together
  adapter_memory_mb: 0.001
  max_upload_mb: 1
"""


def _examples(n: int) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in (EXAMPLE / "data/golden.jsonl").read_text().splitlines()[:n]]
    return [
        {
            "messages": [
                {"role": "system", "content": "You are Northwind Outfitters' customer support assistant."},
                {"role": "user", "content": r["ticket"]},
                {"role": "assistant", "content": r["reply"]},
            ]
        }
        for r in rows
    ]


def _project(tmp_path: Path, model: Path, steps: int, save_steps: int = 2) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "tunesmith.yaml").write_text(PROJECT.format(model=model, steps=steps, save_steps=save_steps))
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _examples(12)))
    return folder


def _wait(client, job_id: str, statuses: set[str], timeout: float = 400):  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in statuses:
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} still {job.status}")


@pytest.fixture
def served(tmp_path: Path, tiny_model: Path) -> Iterator[tuple[Server, Path]]:
    project = _project(tmp_path, tiny_model, steps=6)
    server = Server(project)
    server.start()
    yield server, project
    server.stop()


def test_openai_client_session(served: tuple[Server, Path], tmp_path: Path) -> None:
    import openai

    server, project = served
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="local")
    transcript: list[str] = []

    # files
    uploaded = client.files.create(file=(project / "train.jsonl").open("rb"), purpose="fine-tune")
    transcript.append(f"files.create -> {uploaded.id} {uploaded.bytes} bytes")
    assert uploaded.purpose == "fine-tune" and uploaded.filename == "train.jsonl"
    assert uploaded.id in [f.id for f in client.files.list().data]
    assert client.files.retrieve(uploaded.id).bytes == (project / "train.jsonl").stat().st_size
    assert client.files.content(uploaded.id).content == (project / "train.jsonl").read_bytes()
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("file-../../etc/passwd")

    # a broken training file fails the job with the file and the line
    broken = project / "broken.jsonl"
    broken.write_text(json.dumps(_examples(1)[0]) + '\n{"messages": [{"role": "user"}]}\nnot json\n')
    bad_file = client.files.create(file=broken.open("rb"), purpose="fine-tune")
    bad = client.fine_tuning.jobs.create(model=BASE, training_file=bad_file.id)
    assert bad.status == "validating_files"
    bad = _wait(client, bad.id, {"failed"}, timeout=120)
    assert bad.error.param == "training_file" and bad.error.code == "invalid_training_file"
    assert "line 2" in bad.error.message and "line 3" in bad.error.message
    transcript.append(f"jobs.create(broken) -> failed: {bad.error.message[:120]}")

    # a supervised job, polled to success
    job = client.fine_tuning.jobs.create(
        model=BASE,
        training_file=uploaded.id,
        suffix="support",
        seed=7,
        method={"type": "supervised", "supervised": {"hyperparameters": {"batch_size": 2, "n_epochs": 1}}},
        metadata={"team": "support"},
    )
    transcript.append(f"jobs.create -> {job.id} {job.status}")
    job = _wait(client, job.id, {"succeeded", "failed"})
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model == f"ft:{BASE}:support:{job.id.removeprefix('ftjob-')}"
    assert job.seed == 7 and job.metadata == {"team": "support"} and job.result_files
    transcript.append(f"jobs.retrieve -> {job.status} {job.fine_tuned_model}")
    assert job.id in [j.id for j in client.fine_tuning.jobs.list().data]

    events = client.fine_tuning.jobs.list_events(job.id, limit=100).data
    messages = [e.message for e in events]
    assert any(m.startswith("New fine-tuned model created") for m in messages)
    metrics = [e for e in events if e.type == "metrics"]
    assert metrics and all("train_loss" in e.data for e in metrics)
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in checkpoints] == [6, 4, 2]
    assert checkpoints[0].metrics.train_loss is not None
    transcript.append(f"events: {len(events)}, checkpoints at steps {[c.step_number for c in checkpoints]}")
    results = client.files.content(job.result_files[0]).text
    assert results.startswith("step,train_loss")

    # chat with the fine-tuned model at once, and stream
    models = [m.id for m in client.models.list().data]
    assert job.fine_tuned_model in models and checkpoints[1].fine_tuned_model_checkpoint in models
    prompt = [{"role": "user", "content": "My tent pole snapped on day two. Can you help?"}]
    reply = client.chat.completions.create(model=job.fine_tuned_model, messages=prompt, max_tokens=32)
    assert reply.choices[0].message.content and reply.usage.completion_tokens <= 32
    pieces = [
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model=job.fine_tuned_model, messages=prompt, max_tokens=32, stream=True)
        if c.choices
    ]
    assert "".join(pieces).strip() == reply.choices[0].message.content
    transcript.append(f"chat({job.fine_tuned_model}) -> {reply.choices[0].message.content[:80]!r}")

    # two adapters at once, with a budget that fits one: each answer is still its own adapter's
    ckpt = checkpoints[2].fine_tuned_model_checkpoint
    alone = {
        m: client.chat.completions.create(model=m, messages=prompt, max_tokens=24).choices[0].message.content
        for m in (job.fine_tuned_model, ckpt)
    }
    assert alone[job.fine_tuned_model] != alone[ckpt]
    answers: dict[int, tuple[str, str]] = {}

    def ask(i: int) -> None:
        model = (job.fine_tuned_model, ckpt)[i % 2]
        out = client.chat.completions.create(model=model, messages=prompt, max_tokens=24)
        answers[i] = (model, out.choices[0].message.content)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(answers) == 6 and all(text == alone[model] for model, text in answers.values())
    health = httpx.get(f"{server.url}/health").json()
    assert health["adapters"]["evictions"] >= 1 and len(health["adapters"]["loaded"]) == 1

    # a DPO job on preference pairs in OpenAI's format
    pairs = project / "pairs.jsonl"
    pairs.write_text(
        "".join(
            json.dumps(
                {
                    "input": {"messages": r["messages"][:2]},
                    "preferred_output": [r["messages"][2]],
                    "non_preferred_output": [{"role": "assistant", "content": "Sorry, I cannot help with that."}],
                }
            )
            + "\n"
            for r in _examples(8)
        )
    )
    pairs_file = client.files.create(file=pairs.open("rb"), purpose="fine-tune")
    dpo = client.fine_tuning.jobs.create(
        model=BASE,
        training_file=pairs_file.id,
        suffix="dpo",
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2, "batch_size": 2}}},
        metadata={"tunesmith_set": "train.max_steps=2"},
    )
    dpo = _wait(client, dpo.id, {"succeeded", "failed"})
    assert dpo.status == "succeeded", dpo.error
    assert dpo.method.type == "dpo" and dpo.method.dpo.hyperparameters.beta == 0.2
    assert dpo.fine_tuned_model.startswith(f"ft:{BASE}:dpo:")
    dpo_reply = client.chat.completions.create(model=dpo.fine_tuned_model, messages=prompt, max_tokens=8)
    # a random model's eight tokens may all be whitespace: that the DPO model answered is what counts here
    assert dpo_reply.model == dpo.fine_tuned_model and dpo_reply.usage.completion_tokens > 0
    transcript.append(f"jobs.create(method=dpo) -> {dpo.status} {dpo.fine_tuned_model}")

    # cancel a long job once it is training: it stops within seconds and keeps its checkpoints
    long_job = client.fine_tuning.jobs.create(
        model=BASE, training_file=uploaded.id, metadata={"tunesmith_set": "train.max_steps=400"}
    )
    deadline = time.time() + 300
    while not client.fine_tuning.jobs.checkpoints.list(long_job.id).data:
        assert time.time() < deadline and client.fine_tuning.jobs.retrieve(long_job.id).status != "failed"
        time.sleep(0.5)
    asked = time.time()
    client.fine_tuning.jobs.cancel(long_job.id)
    cancelled = _wait(client, long_job.id, {"cancelled"}, timeout=30)
    stopped_in = time.time() - asked
    assert cancelled.status == "cancelled" and stopped_in < 15
    assert client.fine_tuning.jobs.checkpoints.list(long_job.id).data
    transcript.append(f"jobs.cancel -> cancelled in {stopped_in:.1f} s, checkpoints kept")
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(long_job.id)

    assert client.files.delete(bad_file.id).deleted
    (tmp_path / "transcript.txt").write_text("\n".join(transcript) + "\n")
    print("\n".join(transcript))


def _job_with_a_checkpoint(client, project: Path, alive):  # type: ignore[no-untyped-def]
    """Upload the examples, start a job and wait until it has saved its first checkpoint (it is mid-run)."""
    uploaded = client.files.create(file=(project / "train.jsonl").open("rb"), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=BASE, training_file=uploaded.id)
    deadline = time.time() + 300
    while not client.fine_tuning.jobs.checkpoints.list(job.id).data:
        assert time.time() < deadline and alive()
        time.sleep(0.3)
    return uploaded, job


def test_restart_during_a_job_resumes_it(tmp_path: Path, tiny_model: Path) -> None:
    import openai

    # checkpoints four steps apart: the kill lands mid-run however fast the tiny model trains
    project = _project(tmp_path, tiny_model, steps=20, save_steps=4)
    server = Server(project)
    server.start()
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="local")
        uploaded, job = _job_with_a_checkpoint(client, project, lambda: True)
        server.kill()  # server, worker and training child, mid-run
        server.start()
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="local")
        assert uploaded.id in [f.id for f in client.files.list().data]
        done = _wait(client, job.id, {"succeeded", "failed"})
        assert done.status == "succeeded", done.error
        events = client.fine_tuning.jobs.list_events(job.id, limit=200).data
        assert any(e.message.startswith("Resuming from the last checkpoint") for e in events)
        # the resumed run re-reads its metrics from the top: still one loss event per step
        losses = [e.data["step"] for e in events if e.type == "metrics" and "train_loss" in (e.data or {})]
        assert losses and len(losses) == len(set(losses))
        assert done.trained_tokens and done.trained_tokens > 0
        steps = [c.step_number for c in client.fine_tuning.jobs.checkpoints.list(job.id).data]
        assert steps == [20, 16, 12, 8, 4]
    finally:
        server.stop()


def test_api_keys_are_required_and_stored_hashed(tmp_path: Path, tiny_model: Path) -> None:
    project = _project(tmp_path, tiny_model, steps=2)
    refused = run_cli("serve", "--host", "0.0.0.0", "--port", str(free_port()), cwd=project, timeout=120)
    assert refused.returncode == 2 and "without API keys" in refused.stdout + refused.stderr

    created = run_cli("serve", "--create-key", "ci", cwd=project, timeout=120)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("ts-")
    db = sqlite3.connect(project / ".tunesmith/serve/state.db")
    stored = [row[0] for row in db.execute("SELECT sha256 FROM api_keys")]
    assert stored == [hashlib.sha256(key.encode()).hexdigest()]
    assert key.encode() not in (project / ".tunesmith/serve/state.db").read_bytes()

    server = Server(project)
    server.start()
    try:
        assert httpx.get(f"{server.url}/v1/models").status_code == 401
        assert httpx.get(f"{server.url}/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = httpx.get(f"{server.url}/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200 and ok.json()["data"][0]["id"] == BASE
        # CORS is off unless configured: no allow-origin header for a browser's preflight
        preflight = httpx.options(
            f"{server.url}/v1/models",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in preflight.headers
        # uploads over the limit are refused with OpenAI's error object
        big = httpx.post(
            f"{server.url}/v1/files",
            headers={"Authorization": f"Bearer {key}"},
            data={"purpose": "fine-tune"},
            files={"file": ("big.jsonl", b"x" * (2 * 2**20))},
        )
        assert big.status_code in (400, 413)
    finally:
        server.stop()


def _worker(project: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = (project / f"worker-{time.time():.3f}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "tunesmith", "worker", "--project", str(project)],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own group: killed with its training child, as a machine going down
    )


def test_workers_on_a_postgres_store_take_over_a_silent_workers_job(
    tmp_path: Path, tiny_model: Path, jobs_db_url: str
) -> None:
    """Workers on several machines: one falls silent mid-run (frozen past serve.worker_stale_s: a machine
    swapping, a paused VM) while its training child still holds the run. The second worker takes the job,
    waits while that child holds the run, and resumes from the last checkpoint once the first worker, woken,
    finds its lease gone and stops its child. Before leases, the second worker's resume was refused (the run
    in progress) and the job failed; nothing fenced the first worker's updates either."""
    import openai
    import psycopg

    project = _project(tmp_path, tiny_model, steps=20, save_steps=4)
    with (project / "tunesmith.yaml").open("a") as f:
        f.write("  jobs_url_env: TS_JOBS_URL\n  worker_stale_s: 3\n")
    env = {"TS_JOBS_URL": jobs_db_url}
    server = Server(project, env=env, args=("--no-worker",))
    server.start()
    workers = [_worker(project, env)]
    frozen: list[int] = []
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="local")
        _, job = _job_with_a_checkpoint(client, project, lambda: workers[0].poll() is None)
        # the first machine freezes, its worker and its training child (which, frozen, cannot finish the run)
        (run_info,) = project.glob("runs/*-train/run.json")
        frozen = [workers[0].pid, json.loads(run_info.read_text())["pid"]]
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        workers.append(_worker(project, env))
        deadline = time.time() + 120
        while not any(
            e.message.startswith("Waiting for") for e in client.fine_tuning.jobs.list_events(job.id, limit=100).data
        ):
            assert time.time() < deadline and client.fine_tuning.jobs.retrieve(job.id).status == "running"
            time.sleep(0.3)
        for pid in frozen:  # it wakes: the child trains on until its worker's next heartbeat
            os.kill(pid, signal.SIGCONT)
        done = _wait(client, job.id, {"succeeded", "failed", "cancelled"})
        assert done.status == "succeeded", done.error
        events = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=200).data]
        assert any(m.startswith("Resuming from the last checkpoint") for m in events)
        assert not any("cancelled" in m or "failed" in m.lower() for m in events)
        steps = [c.step_number for c in client.fine_tuning.jobs.checkpoints.list(job.id).data]
        assert steps == [20, 16, 12, 8, 4]
        # the first worker stopped its child, left the job alone and is still there for the next one
        assert workers[0].poll() is None
        logs = sorted(project.glob("worker-*.log"))
        assert "went to another worker" in logs[0].read_text()
        # the job lives in PostgreSQL, not in the project's SQLite file
        with psycopg.connect(jobs_db_url) as connection:
            row = connection.execute("SELECT status, attempts FROM jobs WHERE id = %s", (job.id,)).fetchone()
        assert row[0] == "succeeded" and row[1] >= 3  # validated, trained, taken over
        # the database drops every connection (a restart, a failover): the workers retry and the API answers 503
        # until its next connection, instead of the workers ending
        with psycopg.connect(jobs_db_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        # each of the server's threads holds a connection: each answers 503 once, then connects again
        answers = [httpx.get(f"{server.url}/v1/fine_tuning/jobs/{job.id}")]
        while answers[-1].status_code != 200 and len(answers) < 100:
            answers.append(httpx.get(f"{server.url}/v1/fine_tuning/jobs/{job.id}"))
        assert answers[-1].status_code == 200 and answers[-1].json()["status"] == "succeeded"
        failed = [(a.status_code, a.json()["error"]["code"]) for a in answers if a.status_code != 200]
        assert all(f == (503, "StoreUnavailable") for f in failed), failed
        deadline = time.time() + 30
        while not all("Retrying in" in log.read_text() for log in logs):
            assert time.time() < deadline
            time.sleep(0.3)
        assert all(worker.poll() is None for worker in workers)
    finally:
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
        server.stop()
