"""One `tunesmith serve` on the tiny model for the reliability tier: the hostile-input corpus and the fairness
checks share it (started once, ~10 s); fault tests start their own servers, since they kill them."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import EXAMPLE
from tests.server import Server

BASE = "tiny-smollm2"
PROJECT = """name: reliability
system_prompt: You are Northwind Outfitters' customer support assistant.
models:
  base: {{id: {model}, name: tiny-smollm2}}
knowledge:
  paths: [kb]
train:
  max_steps: 2
  batch_size: 2
  max_length: 256
  stop_check: 0
serve:
  # long answers on purpose: a request that would run for a long time is what fairness is about
  max_new_tokens: 1536
  max_upload_mb: 1
  max_request_kb: 512
  shutdown_timeout_s: 3
"""


def make_project(folder: Path, model: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tunesmith.yaml").write_text(PROJECT.format(model=model))
    (folder / "kb").mkdir(exist_ok=True)
    (folder / "kb" / "returns.md").write_text("# Returns\n\nItems can be returned within 30 days with a receipt.\n")
    rows = [json.loads(line) for line in (EXAMPLE / "data/golden.jsonl").read_text().splitlines()[:8]]
    examples = [
        {"messages": [{"role": "user", "content": r["ticket"]}, {"role": "assistant", "content": r["reply"]}]}
        for r in rows
    ]
    (folder / "train.jsonl").write_text("".join(json.dumps(e) + "\n" for e in examples))
    # a link inside the project that leads out of it: a path through it must be refused like an absolute one
    if not (folder / "outside").exists():
        os.symlink("/etc", folder / "outside")
    return folder


@pytest.fixture(scope="session")
def reliability_server(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Server]:
    project = make_project(tmp_path_factory.mktemp("reliability") / "project", tiny_model)
    server = Server(project, args=("--no-worker",))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def canary(url: str) -> httpx.Response:
    """A two-token chat: the server must still answer one promptly after whatever came before."""
    return httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": BASE, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 2},
        timeout=30,
    )
