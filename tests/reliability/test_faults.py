"""Faults, each with nothing lost: `kill -9` of the server during an upload and of a data build, a disk that
fills while a checkpoint is written, two workers on one job store. (`kill -9` during a running fine-tuning job
is tests/e2e/test_finetuning_api.py::test_a_job_survives_a_server_restart.)"""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import EXAMPLE, run_cli
from tests.reliability.conftest import make_project
from tests.server import Server


def _tunesmith(project: Path, *args: str, quiet: bool = False) -> subprocess.Popen[str]:
    """A `tunesmith` command in its own process group (so `kill -9` takes all of it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tunesmith", *args],
        cwd=project,
        env={**os.environ, "NO_COLOR": "1"},
        stdout=subprocess.DEVNULL if quiet else subprocess.PIPE,
        stderr=subprocess.DEVNULL if quiet else subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _slow_upload(url: str, errors: list[BaseException]) -> None:
    boundary = "slowboundary"

    def body() -> Iterator[bytes]:
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'.encode()
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.jsonl"\r\n\r\n'.encode()
        for _ in range(200):
            yield b'{"messages": []}\n' * 64
            time.sleep(0.05)
        yield f"\r\n--{boundary}--\r\n".encode()

    try:
        httpx.post(
            f"{url}/v1/files",
            content=body(),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
            timeout=60,
        )
    except httpx.HTTPError as exc:  # the server dies under it: expected
        errors.append(exc)


def test_kill_9_during_an_upload_records_nothing(tmp_path: Path, tiny_model: Path) -> None:
    project = make_project(tmp_path / "project", tiny_model)
    server = Server(project, args=("--no-worker",))
    server.start()
    try:
        kept = httpx.post(f"{server.url}/v1/files", data={"purpose": "fine-tune"}, files={"file": ("a.jsonl", b"{}\n")})
        assert kept.status_code == 200
        errors: list[BaseException] = []
        thread = threading.Thread(target=_slow_upload, args=(server.url, errors), daemon=True)
        thread.start()
        time.sleep(2)  # well into the body, long before its end
        server.kill()
        thread.join(30)
        assert errors, "the upload finished before the kill"
        server.start()
        listed = httpx.get(f"{server.url}/v1/files").json()["data"]
        assert [f["id"] for f in listed] == [kept.json()["id"]]
        stored = sorted(p.name for p in (project / ".tunesmith/serve/files").iterdir())
        assert stored == [kept.json()["id"]]  # no partial file, no file without a row
        again = httpx.post(
            f"{server.url}/v1/files", data={"purpose": "fine-tune"}, files={"file": ("b.jsonl", b"{}\n")}
        )
        assert again.status_code == 200
    finally:
        server.stop()


def test_kill_9_during_a_data_build_leaves_it_unfinished_and_a_rebuild_whole(tmp_path: Path, tiny_model: Path) -> None:
    project = make_project(tmp_path / "project", tiny_model)
    (project / "data").mkdir()
    shutil.copy(EXAMPLE / "data/golden.jsonl", project / "data/golden.jsonl")
    config = (project / "tunesmith.yaml").read_text()
    (project / "tunesmith.yaml").write_text(
        config + "data:\n  golden: {path: data/golden.jsonl, input_field: ticket, output_field: reply, id_field: id}\n"
    )
    build = _tunesmith(project, "data", "build", "--json", quiet=True)
    deadline = time.time() + 120
    while not list((project / "runs").glob("*/run.json")):
        assert time.time() < deadline and build.poll() is None, "the build ended before it could be killed"
        time.sleep(0.05)
    time.sleep(0.5)
    os.killpg(build.pid, signal.SIGKILL)
    build.wait(30)
    killed = json.loads(next((project / "runs").glob("*/run.json")).read_text())
    assert killed["status"] == "running"  # as the kill left it; read back as interrupted (no process holds it)
    listed = run_cli("data", "build", "--json", cwd=project, timeout=600)
    assert listed.returncode == 0, listed.stderr[-2000:]
    from tunesmith.registry.runs import list_runs, resolve_run

    runs = list_runs(project, "data")
    assert sorted(r.status for r in runs) == ["interrupted", "succeeded"]
    latest = resolve_run(project, None, "data")
    manifest = latest.read_json("manifest.json")
    golden_rows = len((project / "data/golden.jsonl").read_text().splitlines())
    assert manifest["accounted"] and manifest["rows_in"] >= golden_rows


def _mount_tmpfs(folder: Path, megabytes: int) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(folder)], capture_output=True
    )
    return done.returncode == 0


def _fill(folder: Path) -> None:
    with (folder / "filler").open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 2**20)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_a_full_disk_while_checkpointing_loses_no_good_checkpoint(tmp_path: Path, tiny_model: Path) -> None:
    project = make_project(tmp_path / "project", tiny_model)
    runs = project / "runs"
    if not _mount_tmpfs(runs, 96):
        pytest.skip("mounting a small tmpfs needs root (CAP_SYS_ADMIN) on this machine")
    try:
        from tunesmith.project import load_project
        from tunesmith.serve.uploads import dataset_from_upload

        data = dataset_from_upload(
            project,
            project / "train.jsonl",
            filename="train.jsonl",
            record_file=lambda path: "file-local",
            split=load_project(project).config.data.split,
        )
        args = ["--data", data["run"], "--set", "train.max_steps=40", "--set", "train.save_steps=4", "--json"]
        training = _tunesmith(project, "train", *args)
        deadline = time.time() + 300
        while not list(runs.glob("*/checkpoints/checkpoint-4/COMPLETE")):
            assert time.time() < deadline and training.poll() is None, training.communicate()[1][-2000:]
            time.sleep(0.01)
        _fill(runs)  # the next checkpoint (or log line) meets a full disk
        _, stderr = training.communicate(timeout=300)
        assert training.returncode != 0, "training finished although the disk was full"
        assert "No space left" in stderr and "Traceback" not in stderr
        run = next(p.parent.parent for p in runs.glob("*/checkpoints/checkpoint-4"))
        from safetensors.torch import load_file

        from tunesmith.train.checkpoints import complete_checkpoints

        good = complete_checkpoints(run / "checkpoints")
        assert good and all(load_file(str(c / "adapter_model.safetensors")) for c in good)
        (runs / "filler").unlink()
        resumed = run_cli("train", "--resume", "--run", run.name, "--json", cwd=project, timeout=600)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
        assert max(m.get("step", 0) for m in metrics) == 40
    finally:
        subprocess.run(["umount", "-l", str(runs)], capture_output=True)


def _claim_all(folder: str, url: str | None, out: str, ready: Any, go: Any) -> None:
    from tunesmith.serve.jobstore import JobStore

    store = JobStore(Path(folder), url)
    ready.release()
    go.wait(60)  # both workers start claiming at the same moment
    claimed = []
    while (task := store.claim_task(os.getpid())) is not None:
        claimed.append(task["id"])
        time.sleep(0.002)  # a worker does something with what it claimed before it claims again
    Path(out).write_text("\n".join(claimed))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_workers_on_one_store_never_take_the_same_job(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    from tunesmith.serve.jobstore import JobStore

    url = request.getfixturevalue("jobs_db_url") if backend == "postgres" else None
    store = JobStore(tmp_path / "store", url)
    queued = {store.create_task("kb", "Index", ["kb", "ingest"], {})["id"] for _ in range(300)}
    context = multiprocessing.get_context("spawn")
    outs = [tmp_path / f"worker-{i}.txt" for i in range(2)]
    ready, go = context.Semaphore(0), context.Event()
    workers = [context.Process(target=_claim_all, args=(str(tmp_path / "store"), url, str(o), ready, go)) for o in outs]
    for worker in workers:
        worker.start()
    for _ in workers:
        assert ready.acquire(timeout=120)
    go.set()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    taken = [o.read_text().split() for o in outs]
    assert not set(taken[0]) & set(taken[1])
    assert set(taken[0]) | set(taken[1]) == queued
    assert all(taken), "one worker took everything: the test did not race them"
