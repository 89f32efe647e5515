"""`tunesmith serve`."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated

import typer

from tunesmith.cli.common import DebugOpt, ProjectOpt, SetOpt, load, set_debug
from tunesmith.core.progress import console


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
        set_: SetOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """Serve base and fine-tuned models through an OpenAI-compatible API (/v1/chat/completions, /v1/models)."""
        set_debug(debug)
        from tunesmith.core.deps import require
        from tunesmith.core.errors import ConfigError
        from tunesmith.serve.app import create_app

        loaded = load(project, set_)
        cfg = loaded.config.serve
        bind = host or cfg.host
        keys = [k.strip() for k in os.environ.get(cfg.api_keys_env, "").split(",") if k.strip()]
        if not _is_loopback(bind) and not keys:
            raise ConfigError(
                f"refusing to serve on {bind} without API keys",
                where="serve.host",
                fix=f"Set {cfg.api_keys_env}=key1,key2 (clients send them as Bearer tokens), or bind 127.0.0.1.",
            )
        uvicorn = require("uvicorn", purpose="the HTTP server")
        app = create_app(loaded, api_keys=keys or None)
        app.state.catalog.generator()  # load the base model before accepting requests
        console.print(f"serving {loaded.config.name} on http://{bind}:{port or cfg.port}/v1")
        uvicorn.run(app, host=bind, port=port or cfg.port, log_level="warning")
