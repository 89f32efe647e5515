"""Shared fixtures. Tests start what they need (servers, CLI processes) and clean up."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "northwind-support"


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 1800,
    input_: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `tunesmith ...` as a user would, in a fresh process (``input_``: what is typed on stdin)."""
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "tunesmith", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input_,
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(process: subprocess.Popen, url: str, timeout: float = 120) -> None:  # type: ignore[type-arg]
    """Until ``url`` answers 200; fails with the server's stderr if it exits first, or on timeout."""
    import time

    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.5)
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
    raise AssertionError(f"{url} did not answer within {timeout:.0f} s")


@pytest.fixture(scope="session")
def bundled_tokenizer():  # type: ignore[no-untyped-def]
    """The bundled model's tokenizer (converting the GGUF once if the cache is cold)."""
    from tunesmith.models.local import load_tokenizer
    from tunesmith.models.resolve import DEFAULT_MODEL, local_path
    from tunesmith.models.spec import LocalModelRef

    return load_tokenizer(local_path(LocalModelRef(id=DEFAULT_MODEL), REPO))


@pytest.fixture(scope="session")
def bundled_model_dir() -> str:
    """The bundled model's converted safetensors folder (converting the GGUF once if the cache is cold)."""
    from tunesmith.models.resolve import DEFAULT_MODEL, local_path
    from tunesmith.models.spec import LocalModelRef

    return local_path(LocalModelRef(id=DEFAULT_MODEL), REPO)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, bundled_model_dir: str) -> Path:
    """A 2-layer random Llama with the bundled model's tokenizer and chat template, for mechanics tests."""
    from tests.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-smollm2", bundled_model_dir)


@pytest.fixture(scope="session")
def family_dir(tmp_path_factory: pytest.TempPathFactory, bundled_model_dir: str):  # type: ignore[no-untyped-def]
    """family -> the folder of its tiny random model (tests/families.py), built once per session."""
    from tests.families import build_family_model

    root = tmp_path_factory.mktemp("families")
    return lambda family: build_family_model(family, root / family.name, bundled_model_dir)


@pytest.fixture()
def jobs_db_url(postgres_url: str) -> str:
    """A fresh, empty database on the session's PostgreSQL server (a job store's tables start empty)."""
    import secrets

    import psycopg

    name = f"jobs_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    base, _, query = postgres_url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL server with pgvector (the `pgserver` wheel), started for the session."""
    pgserver = pytest.importorskip("pgserver")
    folder = tmp_path_factory.mktemp("postgres")
    server = pgserver.get_server(str(folder), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
