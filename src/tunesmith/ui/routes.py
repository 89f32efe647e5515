"""The web workbench on the API server: the pages at `/`, their JSON under `/ui/api`, assets under `/ui/static`.

Every asset is a file of this package (no CDN, no build step), so the pages
work offline. The JSON routes are thin: each calls one function of the page
modules beside this one, which read the same run folders, job store and
registry as the CLI. Chat in the playground goes through the public
`/v1/chat/completions`, exactly as a client's would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Path as PathParam
from fastapi import Query, Request  # module level: FastAPI resolves the annotations here
from pydantic import BaseModel, ConfigDict, Field

from tunesmith.core.errors import TunesmithError
from tunesmith.project import LoadedProject, load_project
from tunesmith.ui import datasets, evaluations, forms, jobs, knowledge, overview, releases, review

STATIC = Path(__file__).parent / "static"

# every parameter a page sends is bounded: a run id, a version number, short texts, sane offsets
RunId = Annotated[str, PathParam(pattern=r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")]
TaskId = Annotated[str, PathParam(pattern=r"task-[0-9a-f]{24}")]
Version = Annotated[str, PathParam(pattern=r"[0-9]{1,9}")]
Kind = Annotated[str, PathParam(max_length=32)]
Text = Annotated[str, Query(max_length=2000)]
Name = Annotated[str | None, Query(max_length=200)]
Offset = Annotated[int, Query(ge=0, le=10**7)]


def _project(request: Request) -> LoadedProject:
    # read per request: an edit to tunesmith.yaml shows in the forms without a restart
    return load_project(request.app.state.project.dir)


def _tokenizer(request: Request) -> Any:
    loaded = request.app.state.project
    if loaded.config.serve.backend == "local":
        return request.app.state.catalog.generator().tokenizer
    from tunesmith.models.local import tokenizer_for

    return tokenizer_for(loaded.config.base_model, loaded.dir)


def _not_found(what: str) -> Any:
    from fastapi.responses import JSONResponse

    message = f"no {what}"
    return JSONResponse(
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": "not_found",
                "text": message,
            }
        },
        404,
    )


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


async def upload(request: Request) -> Any:
    """A dataset from an uploaded file: spooled to disk as it arrives, read, then recorded (file and data run)."""
    from starlette.concurrency import run_in_threadpool

    from tunesmith.serve.uploads import dataset_from_upload, read_upload, safe_filename

    state = request.app.state
    _, upload = await read_upload(request, state.max_upload_bytes)
    name = safe_filename(upload.filename)
    cfg = _project(request).config

    def build() -> Any:
        import shutil
        import tempfile

        # the reader picks the format by the file's extension, so it reads a copy under the uploaded name
        with tempfile.TemporaryDirectory() as folder:
            named = Path(folder) / name
            with named.open("wb") as out:
                shutil.copyfileobj(upload.file, out, 1024 * 1024)

            def record(path: Path) -> str:
                with path.open("rb") as handle:
                    return str(state.store.add_file(name, "fine-tune", handle)["id"])

            return dataset_from_upload(
                state.project.dir,
                named,
                filename=name,
                record_file=record,
                split=cfg.data.split,
                tokenizer=_tokenizer(request),
            )

    try:
        return await run_in_threadpool(build)
    finally:
        await upload.close()


def get_dataset(request: Request, run: RunId) -> Any:
    return datasets.dataset(_project(request), run)


def get_examples(
    request: Request,
    run: RunId,
    split: Name = None,
    q: Text = "",
    label: Name = None,
    source: Name = None,
    offset: Offset = 0,
    limit: int = 20,
) -> Any:
    return datasets.examples(
        _project(request),
        run,
        split=split,
        query=q,
        label=label,
        source=source,
        offset=offset,
        limit=max(1, min(limit, 200)),
    )


def get_rejects(request: Request, run: RunId, reason: Name = None, offset: Offset = 0, limit: int = 50) -> Any:
    return datasets.rejects(_project(request), run, reason=reason, offset=offset, limit=max(1, min(limit, 500)))


def get_mask(request: Request, run: RunId, id: Annotated[str, Query(max_length=500)]) -> Any:
    return datasets.loss_mask(_project(request), run, id, _tokenizer(request))


# -- knowledge base ---------------------------------------------------------------------------------
def get_knowledge(request: Request) -> Any:
    return knowledge.documents(_project(request))


def get_chunks(request: Request, file: Annotated[str, Query(max_length=1000)]) -> Any:
    return {"file": file, "chunks": knowledge.chunks(_project(request), file)}


def get_search(request: Request, q: Text, k: int = 5, mode: Annotated[str, Query(max_length=16)] = "hybrid") -> Any:
    if mode not in ("hybrid", "dense", "keyword"):
        raise TunesmithError(f"unknown search mode '{mode}'", fix="Use hybrid, dense or keyword.")
    hits = knowledge.search(_project(request), q, k=max(1, min(k, 50)), mode=mode)
    return {"query": q, "mode": mode, "hits": hits}


# -- jobs -------------------------------------------------------------------------------------------
def list_jobs(request: Request) -> Any:
    state = request.app.state
    listed = [jobs.decorate(state.project, state.store, t) for t in state.store.list_tasks(limit=100)]
    return {"jobs": listed, "kinds": jobs.kinds()}


def get_form(request: Request, kind: Kind) -> Any:
    if kind not in forms.SECTIONS:
        raise TunesmithError(f"unknown job kind '{kind}'", fix=f"Use one of {', '.join(forms.SECTIONS)}.")
    current = _project(request)
    return {"kind": kind, "fields": forms.form(current, kind), "choices": jobs.choices(current, kind)}


class JobForm(BaseModel):
    """A submitted job form: only the fields the user changed, and the runs it takes as inputs."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(max_length=32)
    values: dict[Annotated[str, Field(max_length=200)], Any] = Field(default_factory=dict, max_length=500)
    inputs: dict[Annotated[str, Field(max_length=32)], Annotated[str, Field(max_length=200)] | None] = Field(
        default_factory=dict, max_length=8
    )


class PromoteForm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alias: str | None = Field(None, max_length=64, pattern=r"[A-Za-z0-9_-]*")


def create_job(request: Request, body: JobForm) -> Any:
    return jobs.create(_project(request), request.app.state.store, body.kind, body.values, body.inputs)


def get_job(request: Request, task_id: TaskId) -> Any:
    state = request.app.state
    task = state.store.get_task(task_id)
    if task is None:
        return _not_found(f"job {task_id}")
    return jobs.decorate(state.project, state.store, task, detail=True)


def cancel_job(request: Request, task_id: TaskId) -> Any:
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


def compare(request: Request, runs: Text, metric: Name = None) -> Any:
    return evaluations.compare(_project(request), [r for r in runs.split(",") if r], metric)


def get_evaluation(request: Request, run: RunId) -> Any:
    return evaluations.evaluation(_project(request), run)


def get_side_by_side(
    request: Request,
    run: RunId,
    a: Annotated[str, Query(max_length=200)],
    b: Annotated[str, Query(max_length=200)],
    metric: Name = None,
    offset: Offset = 0,
    limit: int = 20,
) -> Any:
    project = _project(request)
    return evaluations.side_by_side(project, run, a=a, b=b, metric=metric, offset=offset, limit=max(1, min(limit, 200)))


# -- review (human labels) --------------------------------------------------------------------------
Who = Annotated[str, Query(min_length=1, max_length=100)]
SystemName = Annotated[str | None, Query(max_length=64)]


def get_review(
    request: Request,
    run: RunId,
    who: Who,
    mode: Annotated[str, Query(pattern="^(grade|pairwise)$")] = "grade",
    system: SystemName = None,
    a: SystemName = None,
    b: SystemName = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Any:
    return review.review(
        _project(request), run, who=who.strip(), mode=mode, system=system, a=a, b=b, offset=offset, limit=limit
    )


class LabelForm(BaseModel):
    """One label from the Review page: a grade of one output (``keys`` of one) or a preference (two, as shown)."""

    model_config = ConfigDict(extra="forbid")
    run: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
    who: str = Field(min_length=1, max_length=100, pattern=r"\S")
    keys: list[Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]] = Field(min_length=1, max_length=2)
    passed: bool | None = None
    score: int | None = Field(None, ge=1, le=5)
    choice: str | None = Field(None, pattern="^(left|right|tie)$")
    note: str = Field("", max_length=2000)


def post_label(request: Request, body: LabelForm) -> Any:
    return review.add_label(
        _project(request),
        body.run,
        who=body.who.strip(),
        keys=body.keys,
        passed=body.passed,
        score=body.score,
        choice=body.choice,
        note=body.note,
    )


# -- releases ---------------------------------------------------------------------------------------
def get_releases(request: Request) -> Any:
    return releases.releases(_project(request))


def get_lineage(request: Request, version: Version) -> Any:
    return releases.lineage(_project(request), version)


def promote(request: Request, version: Version, body: PromoteForm | None = None) -> Any:
    return releases.promote(_project(request), version, (body.alias if body else None) or "production")


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
    ("GET", "/evaluations/{run}/review", get_review),
    ("POST", "/labels", post_label),
    ("GET", "/releases", get_releases),
    ("GET", "/releases/{version}/lineage", get_lineage),
    ("POST", "/releases/{version}/promote", promote),
]


def _problem(exc: TunesmithError) -> Any:
    from fastapi.responses import JSONResponse

    # OpenAI's error object (message, type, param, code) plus the page's where / fix / text
    body = {
        "error": {
            "message": exc.what,
            "type": "invalid_request_error",
            "param": exc.where,
            "code": type(exc).__name__,
            "where": exc.where,
            "fix": exc.fix,
            "text": exc.render(),
        }
    }
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
