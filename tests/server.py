"""A `tunesmith serve` process started for a test, killed as a crash would or stopped as an operator would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, project: Path, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> None:
        self.project = project
        self.args = args
        self.port = free_port()
        self.env = {**os.environ, "NO_COLOR": "1", **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log = (self.project / f"server-{time.time():.0f}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tunesmith", "serve", "--port", str(self.port), *self.args],
            cwd=self.project,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.time() + 180
        while time.time() < deadline:
            assert self.process.poll() is None, (self.project / self.log.name).read_text()
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError("server did not start")

    def kill(self) -> None:
        """The whole process group at once (server, worker, training child), as a crash would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
