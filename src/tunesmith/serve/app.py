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
from tunesmith.serve.jobstore import JobStore
from tunesmith.serve.openai_schema import OpenAIError, error_body

# the paths whose answers are private: the API and the web workbench's data (its pages and assets are public)
GUARDED = ("/v1", "/ui/api")


def state_dir(project_dir: Path) -> Path:
    return project_dir / ".tunesmith" / "serve"


def create_app(
    project: LoadedProject,
    *,
    pool: ModelPool | None = None,
    api_keys: list[str] | None = None,
    require_keys: bool = False,
) -> Any:
    """The API. Keys: those in ``api_keys`` (e.g. from the environment) and those created with
    `tunesmith serve --create-key`; only their SHA-256 digests are kept. With any key known, or
    ``require_keys``, every /v1 request must carry one."""
    fastapi = require("fastapi", purpose="the HTTP API")
    from tunesmith.serve import chat, finetuning

    cfg = project.config
    store = JobStore(state_dir(project.dir))
    catalog = ModelCatalog(project, pool or ModelPool(project.dir), store)
    app = fastapi.FastAPI(title="tunesmith", version="1", docs_url="/docs")
    app.state.project = project
    app.state.catalog = catalog
    app.state.store = store
    app.state.engine = Engine(project, catalog)
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
    app.middleware("http")(authenticate)
    app.add_exception_handler(OpenAIError, openai_error)
    app.add_exception_handler(TunesmithError, tunesmith_error)
    app.add_exception_handler(fastapi.exceptions.RequestValidationError, invalid_request)
    app.add_api_route("/health", health, methods=["GET"])
    app.add_api_route("/v1/models", list_models, methods=["GET"])
    app.add_api_route("/v1/models/{model_id:path}", get_model, methods=["GET"])
    app.include_router(chat.router)
    app.include_router(finetuning.router)
    return app


async def authenticate(request: Request, call_next: Any) -> Any:
    from fastapi.responses import JSONResponse

    state = request.app.state
    if request.url.path.startswith(GUARDED) and request.method != "OPTIONS":
        known = state.key_hashes()
        if known or state.require_keys:
            token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            digest = hashlib.sha256(token.encode()).hexdigest()
            if not any(secrets.compare_digest(digest, known_digest) for known_digest in known):
                body = error_body("Incorrect API key provided.", code="invalid_api_key")
                return JSONResponse(body, status_code=401)
    return await call_next(request)


async def openai_error(request: Request, exc: Exception) -> Any:
    from fastapi.responses import JSONResponse

    assert isinstance(exc, OpenAIError)
    return JSONResponse(exc.body, status_code=exc.status)


async def tunesmith_error(request: Request, exc: Exception) -> Any:
    """A problem with the project or its input met while answering (a knowledge base not indexed, a model that
    cannot load): one line saying what, where and how to fix it, in OpenAI's error object."""
    from fastapi.responses import JSONResponse

    assert isinstance(exc, TunesmithError)
    return JSONResponse(error_body(exc.render(), code=type(exc).__name__), status_code=400)


async def invalid_request(request: Request, exc: Exception) -> Any:
    """A request that does not fit its schema: OpenAI's error object naming the first bad parameter."""
    from fastapi.responses import JSONResponse

    first = exc.errors()[0]  # type: ignore[attr-defined]
    param = ".".join(str(p) for p in first["loc"] if p != "body")
    return JSONResponse(error_body(f"{param}: {first['msg']}", param=param), status_code=400)


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
