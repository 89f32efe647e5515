"""Benchmark: the web workbench's JSON while a training job runs, against the same requests with the server idle.

Prints one JSON object. `tunesmith serve` is started for real on a copy of the
example project (with its job worker); a dataset is uploaded through the page's
upload route; then the pages' requests (overview, jobs list, dataset, one job
with its loss curve) are timed sequentially with the worker idle, and again
while the worker trains a LoRA on the bundled model from a job started through
the same API the Jobs form uses. The claim it measures: the pages stay usable
while a job runs (training is in the worker's child process, not in the server).

    python bench/ui.py [--rounds 20] [--steps 30]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "northwind-support"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tickets(n: int) -> bytes:
    system = "You are Northwind Outfitters' customer support assistant."
    rows = [json.loads(line) for line in (EXAMPLE / "data" / "golden.jsonl").read_text().splitlines()[:n]]
    return "\n".join(
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": r["ticket"]},
                    {"role": "assistant", "content": r["reply"]},
                ]
            }
        )
        for r in rows
    ).encode()


def timed_round(client: httpx.Client, paths: list[str]) -> dict[str, float]:
    out = {}
    for path in paths:
        start = time.perf_counter()
        response = client.get(path)
        response.raise_for_status()
        out[path.split("?")[0]] = time.perf_counter() - start
    return out


def summarize(samples: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    keys = samples[0].keys()
    return {
        k: {
            "p50_ms": round(1000 * percentile([s[k] for s in samples], 0.5), 1),
            "p95_ms": round(1000 * percentile([s[k] for s in samples], 0.95), 1),
        }
        for k in keys
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tunesmith-bench-ui-"))
    project = work / "northwind"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("runs", "mlflow", ".tunesmith"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "tunesmith", "serve", "--project", str(project), "--port", str(port)],
        env={**os.environ, "NO_COLOR": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        client = httpx.Client(base_url=url, timeout=120)
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        upload = client.post("/ui/api/datasets/upload", files={"file": ("tickets.jsonl", tickets(60))}).json()
        data_run = upload["run"]
        job = client.post(
            "/ui/api/jobs",
            json={
                "kind": "train",
                "values": {"train.max_steps": args.steps, "train.batch_size": 2, "train.stop_check": 0},
                "inputs": {"data": data_run},
            },
        ).json()
        paths = ["/ui/api/overview", "/ui/api/jobs", f"/ui/api/datasets/{data_run}", f"/ui/api/jobs/{job['id']}"]
        # while training (sampled once steps are being taken), then idle after the job has ended: the same
        # server, data and warm caches, so the only difference is the training beside it
        busy: list[dict[str, float]] = []
        while client.get(f"/ui/api/jobs/{job['id']}").json()["status"] in ("queued", "running"):
            if client.get(f"/ui/api/jobs/{job['id']}").json()["curve"]:  # training steps are being taken
                busy.append(timed_round(client, paths))
                time.sleep(0.5)  # spread the samples over the training, not its first second
            else:
                time.sleep(0.2)
            if len(busy) >= args.rounds:
                break
        final = client.get(f"/ui/api/jobs/{job['id']}").json()
        while final["status"] in ("queued", "running"):
            time.sleep(1)
            final = client.get(f"/ui/api/jobs/{job['id']}").json()
        idle = [timed_round(client, paths) for _ in range(args.rounds)]
        print(
            json.dumps(
                {
                    "benchmark": "web UI JSON latency, sequential requests",
                    "rounds": {"idle": len(idle), "while_training": len(busy)},
                    "job": {"status": final["status"], "steps": args.steps},
                    "idle": summarize(idle),
                    "while_training": summarize(busy) if busy else None,
                    "cpu_count": os.cpu_count(),
                },
                indent=2,
            )
        )
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
