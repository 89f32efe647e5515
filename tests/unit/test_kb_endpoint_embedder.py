"""An OpenAI-compatible embeddings server as the knowledge base's embedder: tunesmith's own `/v1/embeddings`,
started on a real port, driven by the official openai client and by the endpoint embedder."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tunesmith.knowledge.config import EmbeddingEndpoint, KnowledgeConfig
from tunesmith.knowledge.embed import load_embedder
from tunesmith.knowledge.ingest import ingest
from tunesmith.knowledge.retrieve import Retriever

PROJECT = """name: embed-test
models:
  base: bundled:smollm2-135m-instruct
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import uvicorn

    from tunesmith.project import load_project
    from tunesmith.serve.app import create_app

    folder = tmp_path_factory.mktemp("project")
    (folder / "tunesmith.yaml").write_text(PROJECT)
    app = create_app(load_project(folder))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1"
    srv.should_exit = True
    thread.join(10)


def test_openai_client_gets_the_same_vectors_as_local(server: str) -> None:
    import openai

    client = openai.OpenAI(base_url=server, api_key="unused")
    texts = ["Returns are free within 60 days.", "The stove fits EN 417 canisters."]
    response = client.embeddings.create(model="all-minilm-l6-v2", input=texts)
    remote = np.asarray([d.embedding for d in response.data], dtype=np.float32)
    local = load_embedder("bundled:all-minilm-l6-v2").encode(texts)
    assert remote.shape == (2, 384) and np.allclose(remote, local, atol=1e-5)
    assert response.usage.prompt_tokens > 10
    # the client's default base64 encoding decodes to the same numbers
    b64 = client.embeddings.create(model="all-minilm-l6-v2", input=texts[0], encoding_format="base64")
    assert isinstance(b64.data[0].embedding, str)
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="text-embedding-3-small", input="x")


def test_knowledge_base_indexed_through_the_endpoint(server: str, tmp_path: Path) -> None:
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "shipping.md").write_text("# Shipping\n\nStandard shipping takes 3 to 6 business days.\n")
    (tmp_path / "kb" / "stoves.md").write_text("# Stoves\n\nThe Trailblaze stove fits EN 417 canisters.\n")
    cfg = KnowledgeConfig(embedder=EmbeddingEndpoint(endpoint=server, model="all-minilm-l6-v2", batch_size=1))
    report = ingest(cfg, tmp_path)
    assert report.chunks == 2 and not report.failed
    hit = Retriever.open(cfg, tmp_path).search("when will my parcel arrive", k=1, mode="dense")[0]
    assert hit.chunk.doc == "kb/shipping.md" and hit.dense_rank == 1
