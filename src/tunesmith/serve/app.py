"""The OpenAI-compatible API: models, chat, embeddings, files and fine-tuning jobs, on one FastAPI app.

``create_app`` only assembles: the shared state (project, model catalog, job
store, the engine that loads models on first use), API-key checks, OpenAI-shaped
errors, and the routes, which are plain functions in `chat.py` and
`finetuning.py` reading that state from the request.
"""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path
from typing import Any

from fastapi import Request  # at module level: FastAPI resolves the handlers' annotations here

from tunesmith.core.deps import require
from tunesmith.core.errors import TunesmithError
from tunesmith.models.pool import ModelPool
from tunesmith.project import LoadedProject
from tunesmith.serve.catalog import ModelCatalog
from tunesmith.serve.engine import Engine
from tunesmith.serve.jobstore import open_store
from tunesmith.serve.openai_schema import OpenAIError, error_body

# the paths whose answers are private: the API and the web workbench's data (its pages and assets are public),
# and the API's schema and docs
GUARDED = ("/v1", "/ui/api", "/docs", "/redoc", "/openapi.json")


def state_dir(project_dir: Path) -> Path:
    return project_dir / ".tunesmith" / "serve"


def create_app(
    project: LoadedProject,
    *,
    pool: ModelPool | None = None,
    api_keys: list[str] | None = None,
    require_keys: bool = False,
    bind: str | None = None,
) -> Any:
    """The API. Keys: those in ``api_keys`` (e.g. from the environment) and those created with
    `tunesmith serve --create-key`; only their SHA-256 digests are kept. With any key known, or
    ``require_keys``, every /v1 request must carry one. ``bind``: the address served (default serve.host),
    whose name is accepted in the Host header besides loopback names and serve.allowed_hosts."""
    import contextlib

    fastapi = require("fastapi", purpose="the HTTP API")
    from tunesmith.serve import chat, finetuning
    from tunesmith.serve.guard import Guard, allowed_hosts

    cfg = project.config
    store = open_store(state_dir(project.dir), cfg.serve.jobs_url_env, cfg.serve.worker_stale_s)
    catalog = ModelCatalog(project, pool or ModelPool(project.dir), store)
    engine = Engine(project, catalog)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield
        engine.shutdown()  # what still generates after the graceful period is cancelled

    app = fastapi.FastAPI(title="tunesmith", version="1", docs_url="/docs", lifespan=lifespan)
    app.state.project = project
    app.state.catalog = catalog
    app.state.store = store
    app.state.engine = engine
    app.state.max_upload_bytes = int(cfg.serve.max_upload_mb * 2**20)
    app.state.fine_tunable = lambda: {catalog.base_id}
    env_hashes = {hashlib.sha256(k.encode()).hexdigest() for k in api_keys or []}
    app.state.key_hashes = lambda: env_hashes | store.key_hashes()
    app.state.require_keys = require_keys

    if cfg.serve.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=cfg.serve.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    bind = bind or cfg.serve.host
    everywhere = bind in ("0.0.0.0", "::") and not cfg.serve.allowed_hosts  # behind keys, reached by any name
    app.add_middleware(
        Guard,  # type: ignore[arg-type]
        hosts=None if everywhere else allowed_hosts(bind, cfg.serve.allowed_hosts),
        cors_origins=cfg.serve.cors_origins,
        max_json_bytes=cfg.serve.max_request_kb * 1024,
        max_upload_bytes=app.state.max_upload_bytes,
        authorized=key_check(app.state),
    )
    app.add_exception_handler(OpenAIError, openai_error)
    app.add_exception_handler(TunesmithError, tunesmith_error)
    app.add_exception_handler(fastapi.exceptions.RequestValidationError, invalid_request)
    from starlette.exceptions import HTTPException  # FastAPI's own is a subclass

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, server_error)
    app.add_api_route("/health", health, methods=["GET"])
    app.add_api_route("/v1/models", list_models, methods=["GET"])
    app.add_api_route("/v1/models/{model_id:path}", get_model, methods=["GET"])
    app.include_router(chat.router)
    app.include_router(finetuning.router)
    return app


def key_check(state: Any) -> Any:
    """Whether a request may pass: with any key known (or keys required), a request to a guarded path must carry
    one as `Authorization: Bearer KEY` (the scheme case-insensitive, RFC 7235); compared by SHA-256 digest."""

    def authorized(path: str, method: str, authorization: str) -> bool:
        if not path.startswith(GUARDED) or method == "OPTIONS":
            return True
        known = state.key_hashes()
        if not known and not state.require_keys:
            return True
        scheme, _, token = authorization.strip().partition(" ")
        digest = hashlib.sha256((token.strip() if scheme.lower() == "bearer" else "").encode()).hexdigest()
        return any(secrets.compare_digest(digest, known_digest) for known_digest in known)

    return authorized


async def openai_error(request: Request, exc: Exception) -> Any:
    from fastapi.responses import JSONResponse

    assert isinstance(exc, OpenAIError)
    return JSONResponse(exc.body, status_code=exc.status)


async def tunesmith_error(request: Request, exc: Exception) -> Any:
    """A problem with the project or its input met while answering (a knowledge base not indexed, a model that
    cannot load): one line saying what, where and how to fix it, in OpenAI's error object."""
    from fastapi.responses import JSONResponse

    assert isinstance(exc, TunesmithError)
    # the server's own trouble (its job store out of reach) is a 503 to retry, not the client's 400
    status = int(getattr(exc, "http_status", 400))
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return JSONResponse(error_body(exc.render(), type_=kind, code=type(exc).__name__), status_code=status)


async def http_error(request: Request, exc: Exception) -> Any:
    """Starlette's own answers (an unknown path, a wrong method, a body that is not JSON) in OpenAI's shape."""
    from fastapi.responses import JSONResponse

    status = int(getattr(exc, "status_code", 400))
    detail = getattr(exc, "detail", None)
    message = detail if isinstance(detail, str) else "Bad request."
    if status == 400 and "parsing the body" in message:
        message = "The body is not valid JSON (or is nested too deeply)."
    body = error_body(message, code={404: "not_found", 405: "method_not_allowed"}.get(status))
    body["error"]["text"] = message
    return JSONResponse(body, status_code=status, headers=getattr(exc, "headers", None))


async def server_error(request: Request, exc: Exception) -> Any:
    """A fault of ours: OpenAI's shape, no traceback in the answer (it goes to the server's log)."""
    import logging

    from fastapi.responses import JSONResponse

    logging.getLogger("tunesmith.serve").error("unhandled error on %s", request.url.path, exc_info=exc)
    message = "The server had an error while processing your request."
    body = error_body(message, type_="server_error", code="internal_error")
    body["error"]["text"] = message
    return JSONResponse(body, status_code=500)


async def invalid_request(request: Request, exc: Exception) -> Any:
    """A request that does not fit its schema: OpenAI's error object naming the first bad parameter."""
    from fastapi.responses import JSONResponse

    first = exc.errors()[0]  # type: ignore[attr-defined]
    param = ".".join(str(p) for p in first["loc"] if p != "body")[:200]
    if first.get("type") == "json_invalid":
        message, param = "The body is not valid JSON.", ""
    else:
        message = f"{param}: {first['msg']}"[:500]
    body = error_body(message, param=param or None)
    body["error"]["text"] = message
    return JSONResponse(body, status_code=400)


def health(request: Request) -> dict[str, Any]:
    state = request.app.state
    return {"status": "ok", "project": state.project.config.name, **state.engine.stats()}


def _model_object(model: Any) -> dict[str, Any]:
    return {"id": model.id, "object": "model", "created": model.created, "owned_by": model.owned_by}


def list_models(request: Request) -> dict[str, Any]:
    return {"object": "list", "data": [_model_object(m) for m in request.app.state.catalog.models()]}


def get_model(request: Request, model_id: str) -> Any:
    model = request.app.state.catalog.find(model_id)
    if model is None:
        raise OpenAIError(404, f"The model '{model_id}' does not exist.", param="model", code="model_not_found")
    return _model_object(model)
