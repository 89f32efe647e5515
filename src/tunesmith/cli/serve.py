"""`tunesmith serve` and `tunesmith worker`."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated

import typer

from tunesmith.cli.common import DebugOpt, ProjectOpt, SetOpt, load, set_debug
from tunesmith.core.progress import console


def _worker_dies_with_server() -> None:
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: the server's own shutdown still stops the worker
        pass


def _leave_if_threads_linger() -> None:
    """A request still generating in a worker thread after the graceful period (window batching decodes a batch
    to its end and cannot be cut mid-way) would keep the process alive after uvicorn has stopped: leave now."""
    import sys
    import threading

    if any(t.is_alive() and not t.daemon and t is not threading.main_thread() for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        project: ProjectOpt = Path("."),
        host: Annotated[str | None, typer.Option(help="Interface to bind (default: serve.host).")] = None,
        port: Annotated[int | None, typer.Option(help="Port (default: serve.port).")] = None,
        worker: Annotated[
            bool, typer.Option(help="Start a fine-tuning job worker process with the server (default: serve.worker).")
        ] = True,
        ui: Annotated[
            bool, typer.Option(help="Serve the web workbench at / (datasets, jobs, playground, releases).")
        ] = True,
        create_key: Annotated[
            str | None,
            typer.Option("--create-key", help="Create an API key with this name, print it once, store its hash, exit."),
        ] = None,
        set_: SetOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """OpenAI-compatible API (chat with streaming, batching and retrieval; embeddings; files; fine-tuning jobs) and
        the web workbench at /."""
        set_debug(debug)
        import signal
        import subprocess
        import sys

        from tunesmith.core.deps import require
        from tunesmith.core.errors import ConfigError
        from tunesmith.serve.app import create_app, state_dir
        from tunesmith.serve.jobstore import open_store

        loaded = load(project, set_)
        cfg = loaded.config.serve
        if create_key:
            key = open_store(state_dir(loaded.dir), cfg.jobs_url_env).add_key(create_key)
            console.print("New API key (shown once; only its SHA-256 is stored):", highlight=False)
            sys.stdout.write(key + "\n")
            return
        bind = host or cfg.host
        keys = [k.strip() for k in os.environ.get(cfg.api_keys_env, "").split(",") if k.strip()]
        stored = open_store(state_dir(loaded.dir), cfg.jobs_url_env).key_hashes()
        if not _is_loopback(bind) and not keys and not stored:
            raise ConfigError(
                f"refusing to serve on {bind} without API keys",
                where="serve.host",
                fix=f"Create one with `tunesmith serve --create-key NAME` (or set {cfg.api_keys_env}=key1,key2), "
                "or bind 127.0.0.1.",
            )
        uvicorn = require("uvicorn", purpose="the HTTP server")
        app = create_app(loaded, api_keys=keys or None, require_keys=not _is_loopback(bind), bind=bind)
        if ui:
            from tunesmith.ui.routes import mount

            mount(app)
        if cfg.backend == "local":
            app.state.catalog.generator()  # load the base model before accepting requests
        child = None
        if worker and cfg.worker:
            child = subprocess.Popen(
                [sys.executable, "-m", "tunesmith", "worker", "--project", str(loaded.dir)],
                env={**os.environ, "NO_COLOR": "1"},
                # a server killed outright takes its worker along (SIGTERM: the worker leaves like Ctrl-C and its
                # job resumes from the last checkpoint under the next server)
                preexec_fn=_worker_dies_with_server,
            )
        # uvicorn re-raises SIGTERM after its graceful shutdown; as SystemExit it lets the block below stop the worker
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        console.print(f"serving {loaded.config.name} on http://{bind}:{port or cfg.port}/v1")
        if ui:
            console.print(f"web workbench on http://{bind}:{port or cfg.port}/")
        try:
            # a bounded shutdown: running requests get serve.shutdown_timeout_s, then they are cancelled
            uvicorn.run(
                app,
                host=bind,
                port=port or cfg.port,
                log_level="warning",
                timeout_graceful_shutdown=max(1, round(cfg.shutdown_timeout_s)),
            )
        finally:
            if child is not None:
                child.terminate()
                try:
                    child.wait(cfg.shutdown_timeout_s)
                except subprocess.TimeoutExpired:
                    child.kill()
            _leave_if_threads_linger()

    @app.command("worker")
    def worker_command(project: ProjectOpt = Path("."), debug: DebugOpt = False) -> None:
        """Run fine-tuning jobs from the server's job store (started by `tunesmith serve`; run more for more
        throughput)."""
        set_debug(debug)
        import signal
        import sys

        from tunesmith.serve.app import state_dir
        from tunesmith.serve.jobstore import open_store
        from tunesmith.serve.worker import Worker

        loaded = load(project, None)
        # SIGTERM from the server: leave like Ctrl-C (the training child dies with us, its job is resumed later)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        serve_cfg = loaded.config.serve
        store = open_store(state_dir(loaded.dir), serve_cfg.jobs_url_env, serve_cfg.worker_stale_s)
        Worker(loaded.dir, store).run_forever()
