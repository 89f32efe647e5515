"""`serve.backend: vllm`: generation forwarded to a vLLM-style server, fine-tunes loaded into it as LoRA adapters
by name, ids and citations kept by tunesmith. (A stand-in server here; the real vLLM needs a GPU.)"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import REPO


def test_chat_is_forwarded_and_adapters_are_loaded_once(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from tunesmith.core.rundir import RunDir
    from tunesmith.project import load_project
    from tunesmith.registry.runs import runs_root
    from tunesmith.serve.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "vllm.log"
    fake = subprocess.Popen([sys.executable, str(REPO / "tests/fixtures/fake_vllm_server.py"), str(port), str(log)])
    try:
        for _ in range(100):
            try:
                httpx.post(f"http://127.0.0.1:{port}/v1/ping", json={}, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        (tmp_path / "tunesmith.yaml").write_text(
            "name: fleet\nmodels:\n  base: bundled:smollm2-135m-instruct\n"
            f"serve:\n  backend: vllm\n  vllm_url: http://127.0.0.1:{port}/v1\n  vllm_model: base-on-vllm\n"
        )
        run = RunDir.create(runs_root(tmp_path), "train", {})
        (run.path("adapter")).mkdir()
        (run.path("adapter", "adapter_config.json")).write_text("{}")
        (run.path("adapter", "adapter_model.safetensors")).write_bytes(b"weights")
        run.finish("succeeded")

        client = TestClient(create_app(load_project(tmp_path)), base_url="http://127.0.0.1")
        models = [m["id"] for m in client.get("/v1/models").json()["data"]]
        fine_tune = next(m for m in models if m.startswith("ft:"))
        ask = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
        base = client.post("/v1/chat/completions", json={"model": models[0], **ask}).json()
        assert base["choices"][0]["message"]["content"] == "answered by base-on-vllm"
        assert base["model"] == "smollm2-135m-instruct" and base["tunesmith"]["retrieval"] is False
        for _ in range(2):
            tuned = client.post("/v1/chat/completions", json={"model": fine_tune, **ask}).json()
            assert tuned["model"] == fine_tune and tuned["choices"][0]["message"]["content"].startswith(
                "answered by ft_"
            )
        stream = client.post("/v1/chat/completions", json={"model": fine_tune, "stream": True, **ask})
        chunks = [json.loads(line[6:]) for line in stream.text.splitlines() if line.startswith("data: {")]
        assert "".join(c["choices"][0]["delta"]["content"] for c in chunks if c["choices"]).startswith("answered by")
        assert all(c["model"] == fine_tune for c in chunks) and "tunesmith" in chunks[-1]
        assert stream.text.rstrip().endswith("data: [DONE]")

        calls = [json.loads(line) for line in log.read_text().splitlines()]
        loads = [c for c in calls if c["path"] == "/v1/load_lora_adapter"]
        assert len(loads) == 1 and loads[0]["body"]["lora_path"] == str(run.path("adapter").resolve())
        sent = [c["body"] for c in calls if c["path"] == "/v1/chat/completions"]
        assert sent[0]["messages"][-1] == {"role": "user", "content": "hi"} and sent[0]["max_tokens"] == 8
    finally:
        fake.terminate()
        fake.wait(10)
