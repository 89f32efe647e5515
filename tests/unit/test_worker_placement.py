"""A worker started beside the wrong project folder (workers on several machines must share one) says so and
gives its job back, instead of failing the job with an error about the job's own files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesmith.serve.jobstore import JobStore
from tunesmith.serve.worker import Worker, WorkerMisplaced


def test_a_worker_missing_the_shared_folder_gives_the_job_back_and_stops(tmp_path: Path, jobs_db_url: str) -> None:
    server_side = JobStore(tmp_path / "api-machine" / ".tunesmith" / "serve", jobs_db_url)
    upload = server_side.add_file("train.jsonl", "fine-tune", b'{"messages": []}\n')
    job = server_side.create_job(
        model="m", training_file=upload["id"], method={"type": "supervised"}, hyperparameters={}, seed=1
    )
    # the second machine's worker has a project folder of its own: the upload is not in it
    elsewhere = tmp_path / "gpu-machine"
    worker = Worker(elsewhere, JobStore(elsewhere / ".tunesmith" / "serve", jobs_db_url))
    with pytest.raises(WorkerMisplaced) as caught:
        worker.step()
    assert upload["id"] in caught.value.what and "shared between the machines" in (caught.value.fix or "")
    back = server_side.get_job(job["id"])
    assert (back["status"], back["worker_pid"], back["lease"]) == ("validating_files", None, None)
    assert server_side.claim(("validating_files",), 1)["id"] == job["id"]  # a worker in the right folder takes it
