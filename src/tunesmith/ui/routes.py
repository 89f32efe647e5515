"""The web workbench on the API server: the pages at `/`, their JSON under `/ui/api`, assets under `/ui/static`.

Every asset is a file of this package (no CDN, no build step), so the pages
work offline. The JSON routes are thin: each calls one function of the page
modules beside this one, which read the same run folders, job store and
registry as the CLI. Chat in the playground goes through the public
`/v1/chat/completions`, exactly as a client's would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Body, File, Request, UploadFile  # module level: FastAPI resolves the annotations here

from tunesmith.core.errors import TunesmithError
from tunesmith.project import LoadedProject, load_project
from tunesmith.ui import datasets, evaluations, forms, jobs, knowledge, overview, releases

STATIC = Path(__file__).parent / "static"


def _project(request: Request) -> LoadedProject:
    # read per request: an edit to tunesmith.yaml shows in the forms without a restart
    return load_project(request.app.state.project.dir)


def _tokenizer(request: Request) -> Any:
    loaded = request.app.state.project
    if loaded.config.serve.backend == "local":
        return request.app.state.catalog.generator().tokenizer
    from tunesmith.models.local import load_tokenizer
    from tunesmith.models.resolve import local_path

    return load_tokenizer(local_path(loaded.config.base_model, loaded.dir))


def _not_found(what: str) -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": {"message": f"no {what}", "text": f"no {what}"}}, 404)


# -- overview ---------------------------------------------------------------------------------------
def get_overview(request: Request) -> Any:
    state = request.app.state
    out = overview.overview(_project(request))
    out["models"] = [m.id for m in state.catalog.models()]
    out["jobs"] = [jobs.decorate(state.project, state.store, t) for t in state.store.list_tasks(limit=5)]
    return out


# -- datasets ---------------------------------------------------------------------------------------
def list_datasets(request: Request) -> Any:
    return {"datasets": datasets.list_datasets(_project(request))}


async def upload(request: Request, file: UploadFile = File(...)) -> Any:  # noqa: B008 (FastAPI's declaration style)
    from starlette.concurrency import run_in_threadpool

    from tunesmith.serve.uploads import dataset_from_upload

    state = request.app.state
    content = await file.read()
    limit = int(state.project.config.serve.max_upload_mb * 2**20)
    if not content:
        raise TunesmithError("the uploaded file is empty", where=file.filename, fix="Pick a file with examples.")
    if len(content) > limit:
        raise TunesmithError(
            f"the file is larger than the {limit} byte limit", where=file.filename, fix="Raise serve.max_upload_mb."
        )
    name = (file.filename or "").replace("/", "_").replace("\\", "_")[-200:]
    if name.strip(".") == "":
        name = "upload.jsonl"  # the name is only a label and an extension: never a path
    row = state.store.add_file(name, "fine-tune", content)
    cfg = _project(request).config

    def build() -> Any:
        import tempfile

        # the reader picks the format by the file's extension, so it reads a copy under the uploaded name
        with tempfile.TemporaryDirectory() as folder:
            named = Path(folder) / name
            named.write_bytes(content)
            return dataset_from_upload(
                state.project.dir,
                named,
                filename=name,
                file_id=row["id"],
                split=cfg.data.split,
                tokenizer=_tokenizer(request),
            )

    return await run_in_threadpool(build)


def get_dataset(request: Request, run: str) -> Any:
    return datasets.dataset(_project(request), run)


def get_examples(
    request: Request,
    run: str,
    split: str | None = None,
    q: str = "",
    label: str | None = None,
    source: str | None = None,
    offset: int = 0,
    limit: int = 20,
) -> Any:
    return datasets.examples(
        _project(request), run, split=split, query=q, label=label, source=source, offset=offset, limit=min(limit, 200)
    )


def get_rejects(request: Request, run: str, reason: str | None = None, offset: int = 0, limit: int = 50) -> Any:
    return datasets.rejects(_project(request), run, reason=reason, offset=offset, limit=min(limit, 500))


def get_mask(request: Request, run: str, id: str) -> Any:
    return datasets.loss_mask(_project(request), run, id, _tokenizer(request))


# -- knowledge base ---------------------------------------------------------------------------------
def get_knowledge(request: Request) -> Any:
    return knowledge.documents(_project(request))


def get_chunks(request: Request, file: str) -> Any:
    return {"file": file, "chunks": knowledge.chunks(_project(request), file)}


def get_search(request: Request, q: str, k: int = 5, mode: str = "hybrid") -> Any:
    if mode not in ("hybrid", "dense", "keyword"):
        raise TunesmithError(f"unknown search mode '{mode}'", fix="Use hybrid, dense or keyword.")
    hits = knowledge.search(_project(request), q, k=max(1, min(k, 50)), mode=mode)
    return {"query": q, "mode": mode, "hits": hits}


# -- jobs -------------------------------------------------------------------------------------------
def list_jobs(request: Request) -> Any:
    state = request.app.state
    listed = [jobs.decorate(state.project, state.store, t) for t in state.store.list_tasks(limit=100)]
    return {"jobs": listed, "kinds": jobs.kinds()}


def get_form(request: Request, kind: str) -> Any:
    if kind not in forms.SECTIONS:
        raise TunesmithError(f"unknown job kind '{kind}'", fix=f"Use one of {', '.join(forms.SECTIONS)}.")
    current = _project(request)
    return {"kind": kind, "fields": forms.form(current, kind), "choices": jobs.choices(current, kind)}


def create_job(request: Request, body: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
    kind, values, inputs = str(body.get("kind", "")), dict(body.get("values") or {}), dict(body.get("inputs") or {})
    return jobs.create(_project(request), request.app.state.store, kind, values, inputs)


def get_job(request: Request, task_id: str) -> Any:
    state = request.app.state
    task = state.store.get_task(task_id)
    if task is None:
        return _not_found(f"job {task_id}")
    return jobs.decorate(state.project, state.store, task, detail=True)


def cancel_job(request: Request, task_id: str) -> Any:
    store = request.app.state.store
    task = store.get_task(task_id)
    if task is None:
        return _not_found(f"job {task_id}")
    if task["status"] in ("succeeded", "failed", "cancelled"):
        raise TunesmithError(f"job {task_id} has already {task['status']}")
    return store.cancel_task(task_id)


# -- evaluations ------------------------------------------------------------------------------------
def list_evaluations(request: Request) -> Any:
    current = _project(request)
    return {"evaluations": evaluations.list_evaluations(current), "primary": current.config.eval.primary}


def compare(request: Request, runs: str, metric: str | None = None) -> Any:
    return evaluations.compare(_project(request), [r for r in runs.split(",") if r], metric)


def get_evaluation(request: Request, run: str) -> Any:
    return evaluations.evaluation(_project(request), run)


def get_side_by_side(
    request: Request, run: str, a: str, b: str, metric: str | None = None, offset: int = 0, limit: int = 20
) -> Any:
    project = _project(request)
    return evaluations.side_by_side(project, run, a=a, b=b, metric=metric, offset=offset, limit=min(limit, 200))


# -- releases ---------------------------------------------------------------------------------------
def get_releases(request: Request) -> Any:
    return releases.releases(_project(request))


def get_lineage(request: Request, version: str) -> Any:
    return releases.lineage(_project(request), version)


def promote(request: Request, version: str, body: dict[str, Any] = Body(default={})) -> Any:  # noqa: B008
    return releases.promote(_project(request), version, str(body.get("alias") or "production"))


def index() -> Any:
    from fastapi.responses import FileResponse

    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/overview", get_overview),
    ("GET", "/datasets", list_datasets),
    ("POST", "/datasets/upload", upload),
    ("GET", "/datasets/{run}", get_dataset),
    ("GET", "/datasets/{run}/examples", get_examples),
    ("GET", "/datasets/{run}/rejects", get_rejects),
    ("GET", "/datasets/{run}/mask", get_mask),
    ("GET", "/knowledge", get_knowledge),
    ("GET", "/knowledge/chunks", get_chunks),
    ("GET", "/knowledge/search", get_search),
    ("GET", "/jobs", list_jobs),
    ("GET", "/forms/{kind}", get_form),
    ("POST", "/jobs", create_job),
    ("GET", "/jobs/{task_id}", get_job),
    ("POST", "/jobs/{task_id}/cancel", cancel_job),
    ("GET", "/evaluations", list_evaluations),
    ("GET", "/evaluations/compare", compare),
    ("GET", "/evaluations/{run}", get_evaluation),
    ("GET", "/evaluations/{run}/examples", get_side_by_side),
    ("GET", "/releases", get_releases),
    ("GET", "/releases/{version}/lineage", get_lineage),
    ("POST", "/releases/{version}/promote", promote),
]


def _problem(exc: TunesmithError) -> Any:
    from fastapi.responses import JSONResponse

    body = {"error": {"message": exc.what, "where": exc.where, "fix": exc.fix, "text": exc.render()}}
    return JSONResponse(body, status_code=400)


def _route_class() -> Any:
    """The workbench's routes answer a TunesmithError with the page's error shape (what, where, fix); the
    API's own routes keep OpenAI's error objects."""
    from fastapi.routing import APIRoute

    class WorkbenchRoute(APIRoute):
        def get_route_handler(self) -> Any:
            handler = super().get_route_handler()

            async def route(request: Request) -> Any:
                try:
                    return await handler(request)
                except TunesmithError as exc:
                    return _problem(exc)

            return route

    return WorkbenchRoute


def _response_class() -> Any:
    """JSON with "not applicable" (NaN in run files, e.g. a citation metric of a system without retrieval) as
    null, which the pages show as n/a; Starlette's own JSON refuses NaN with a 500."""
    import json

    from fastapi.responses import JSONResponse

    from tunesmith.core.jsonl import finite

    class WorkbenchJSON(JSONResponse):
        def render(self, content: Any) -> bytes:
            return json.dumps(finite(content), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()

    return WorkbenchJSON


def mount(app: Any) -> None:
    """The workbench on ``app`` (made by `serve.app.create_app`, whose project it shows)."""
    from fastapi import APIRouter
    from fastapi.staticfiles import StaticFiles

    api = APIRouter(prefix="/ui/api", route_class=_route_class(), default_response_class=_response_class())
    for method, path, endpoint in ROUTES:
        api.add_api_route(path, endpoint, methods=[method])
    app.include_router(api)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    app.add_api_route("/", index, methods=["GET"], include_in_schema=False)
