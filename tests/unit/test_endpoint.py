"""The endpoint generator against a real HTTP server on localhost."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tunesmith.core.errors import ModelSourceError
from tunesmith.models.endpoint import EndpointGenerator
from tunesmith.models.generation import GenerationParams
from tunesmith.models.spec import EndpointModelRef


class FakeOpenAI(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.in_flight = 0
        self.max_in_flight = 0
        self.failures_left = 0
        self.lock = threading.Lock()
        self.auth: list[str | None] = []


class Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send(200, {"object": "list", "data": [{"id": "echo"}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server
        with server.lock:
            server.auth.append(self.headers.get("Authorization"))
            if server.failures_left > 0:
                server.failures_left -= 1
                self._send(503, {"error": {"message": "busy"}})
                return
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
        time.sleep(0.05)
        text = "echo: " + body["messages"][-1]["content"]
        self._send(
            200,
            {
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
            },
        )
        with server.lock:
            server.in_flight -= 1


@pytest.fixture()
def server() -> Iterator[FakeOpenAI]:
    srv = FakeOpenAI()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()


def ref(srv: FakeOpenAI, **kw: object) -> EndpointModelRef:
    return EndpointModelRef(endpoint=f"http://127.0.0.1:{srv.server_address[1]}/v1", model="echo", **kw)


def test_concurrent_requests_in_order(server: FakeOpenAI) -> None:
    gen = EndpointGenerator(ref(server, max_concurrency=4))
    gen.check()
    chats = [[{"role": "user", "content": f"m{i}"}] for i in range(12)]
    out = gen.generate(chats, GenerationParams(max_new_tokens=5))
    assert [o.text for o in out] == [f"echo: m{i}" for i in range(12)]
    assert 1 < server.max_in_flight <= 4
    assert out[0].prompt_tokens == 3 and out[0].completion_tokens == 2


def test_retries_on_503(server: FakeOpenAI) -> None:
    server.failures_left = 2
    gen = EndpointGenerator(ref(server, max_retries=3))
    out = gen.generate([[{"role": "user", "content": "hi"}]], GenerationParams())
    assert out[0].text == "echo: hi"


def test_gives_up_after_retries(server: FakeOpenAI) -> None:
    server.failures_left = 10
    gen = EndpointGenerator(ref(server, max_retries=1))
    with pytest.raises(ModelSourceError, match="HTTP 503"):
        gen.generate([[{"role": "user", "content": "hi"}]], GenerationParams())


def test_api_key_from_environment(server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sekret")
    EndpointGenerator(ref(server, api_key_env="FAKE_KEY")).generate(
        [[{"role": "user", "content": "x"}]], GenerationParams()
    )
    assert server.auth[-1] == "Bearer sekret"
    monkeypatch.delenv("FAKE_KEY")
    with pytest.raises(ModelSourceError, match="FAKE_KEY"):
        EndpointGenerator(ref(server, api_key_env="FAKE_KEY"))


def test_unreachable_endpoint_is_one_clear_error() -> None:
    gen = EndpointGenerator(EndpointModelRef(endpoint="http://127.0.0.1:9/v1", model="m", timeout_s=2))
    with pytest.raises(ModelSourceError) as info:
        gen.check()
    assert "cannot reach endpoint http://127.0.0.1:9/v1" in info.value.render()
