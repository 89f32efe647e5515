"""`tunesmith serve` started for a benchmark: on a free loopback port, without its worker and pages, in its own
process group (so stopping it stops what it started), ready once /health answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def start_server(project: Path, settings: list[str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """The server on ``project`` with ``settings`` (``KEY=VALUE``, as `--set` takes them), and its root URL."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "tunesmith", "serve", "--port", str(port), "--no-worker", "--no-ui"]
        + [arg for setting in settings or [] for arg in ("--set", setting)],
        cwd=project,
        env={**os.environ, "NO_COLOR": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        if time.time() > deadline or server.poll() is not None:
            raise SystemExit("server did not start")
        time.sleep(0.3)


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's group (it finishes what runs within its shutdown timeout), SIGKILL after a minute."""
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(30)
