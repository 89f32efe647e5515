"""Fairness and cancellation on a real server: a client that goes away stops costing anything, a long answer
does not hold a short one back, and SIGTERM stops the server within its shutdown timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reliability.conftest import BASE, canary, make_project
from tests.server import Server

LONG = {"model": BASE, "messages": [{"role": "user", "content": "Tell me everything."}], "max_tokens": 1500}


def _scheduler(url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/health", timeout=10).json().get("scheduler") or {})


def _wait_until(check: Any, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def _in_background(target: Any) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_a_client_that_gives_up_has_its_generation_cancelled(reliability_server: Server) -> None:
    url = reliability_server.url
    before = _scheduler(url).get("cancelled", 0)

    def impatient() -> None:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/v1/chat/completions", json=LONG, timeout=httpx.Timeout(30, read=1.0))

    thread = _in_background(impatient)
    assert _wait_until(lambda: _scheduler(url).get("running", 0) >= 1)
    thread.join(10)
    # the answer was cut short by the cancellation, not finished: the counter says which
    assert _wait_until(lambda: _scheduler(url).get("cancelled", 0) > before and _scheduler(url)["running"] == 0)


def test_a_stream_closed_early_is_cancelled(reliability_server: Server) -> None:
    url = reliability_server.url
    before = _scheduler(url).get("cancelled", 0)
    with httpx.stream("POST", f"{url}/v1/chat/completions", json={**LONG, "stream": True}, timeout=30) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
    assert _wait_until(lambda: _scheduler(url).get("cancelled", 0) > before and _scheduler(url)["running"] == 0)


def test_a_long_answer_does_not_hold_a_short_one_back(reliability_server: Server) -> None:
    url = reliability_server.url
    finished: dict[str, float] = {}

    def long_request() -> None:
        response = httpx.post(f"{url}/v1/chat/completions", json=LONG, timeout=120)
        assert response.status_code == 200
        finished["long"] = time.monotonic()

    thread = _in_background(long_request)
    assert _wait_until(lambda: _scheduler(url).get("running", 0) >= 1)
    assert canary(url).status_code == 200
    finished["short"] = time.monotonic()
    # the short request joined the running batch and left it; the long one is still generating
    assert "long" not in finished and _scheduler(url).get("running", 0) >= 1
    thread.join(120)
    assert finished["short"] < finished["long"]


def test_sigterm_stops_a_busy_server_within_its_shutdown_timeout(tmp_path: Path, tiny_model: Path) -> None:
    server = Server(make_project(tmp_path / "project", tiny_model), args=("--no-worker",))
    server.start()
    assert server.process is not None
    responses: list[int] = []

    def streaming() -> None:
        try:
            with httpx.stream(
                "POST", f"{server.url}/v1/chat/completions", json={**LONG, "stream": True}, timeout=60
            ) as r:
                responses.append(r.status_code)
                for _ in r.iter_lines():
                    pass
        except httpx.HTTPError:
            pass

    threads = [_in_background(streaming) for _ in range(4)]
    assert _wait_until(lambda: _scheduler(server.url).get("running", 0) >= 1)
    started = time.monotonic()
    os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(30)  # shutdown_timeout_s is 3; a hang would be the bug this guards against
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        raise AssertionError("the server did not stop on SIGTERM") from None
    stopped_after = time.monotonic() - started
    for thread in threads:
        thread.join(10)
    assert responses and all(code == 200 for code in responses)
    print(f"stopped {stopped_after:.1f} s after SIGTERM")
