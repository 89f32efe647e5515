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


def mount(app: Any, loaded: LoadedProject) -> None:
    from fastapi import APIRouter
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles

    store = app.state.store
    catalog = app.state.catalog
    api = APIRouter(prefix="/ui/api", route_class=_route_class())

    def project() -> LoadedProject:
        # read per request: an edit to tunesmith.yaml shows in the forms without a restart
        return load_project(loaded.dir)

    def tokenizer() -> Any:
        if loaded.config.serve.backend == "local":
            return catalog.generator().tokenizer
        from tunesmith.models.local import load_tokenizer
        from tunesmith.models.resolve import local_path

        return load_tokenizer(local_path(loaded.config.base_model, loaded.dir))

    # -- overview ---------------------------------------------------------------------------------
    @api.get("/overview")
    def get_overview() -> Any:
        out = overview.overview(project())
        out["models"] = [m.id for m in catalog.models()]
        out["jobs"] = [jobs.decorate(loaded, store, t) for t in store.list_tasks(limit=5)]
        return out

    # -- datasets ---------------------------------------------------------------------------------
    @api.get("/datasets")
    def list_datasets() -> Any:
        return {"datasets": datasets.list_datasets(project())}

    @api.post("/datasets/upload")
    async def upload(file: UploadFile = File(...)) -> Any:  # noqa: B008 (FastAPI's declaration style)
        from starlette.concurrency import run_in_threadpool

        from tunesmith.serve.uploads import dataset_from_upload

        content = await file.read()
        limit = int(loaded.config.serve.max_upload_mb * 2**20)
        if not content:
            raise TunesmithError("the uploaded file is empty", where=file.filename, fix="Pick a file with examples.")
        if len(content) > limit:
            raise TunesmithError(
                f"the file is larger than the {limit} byte limit", where=file.filename, fix="Raise serve.max_upload_mb."
            )
        name = (file.filename or "").replace("/", "_").replace("\\", "_")[-200:]
        if name.strip(".") == "":
            name = "upload.jsonl"  # the name is only a label and an extension: never a path
        row = store.add_file(name, "fine-tune", content)
        cfg = project().config

        def build() -> Any:
            import tempfile

            # the reader picks the format by the file's extension, so it reads a copy under the uploaded name
            with tempfile.TemporaryDirectory() as folder:
                named = Path(folder) / name
                named.write_bytes(content)
                return dataset_from_upload(
                    loaded.dir, named, filename=name, file_id=row["id"], split=cfg.data.split, tokenizer=tokenizer()
                )

        return await run_in_threadpool(build)

    @api.get("/datasets/{run}")
    def get_dataset(run: str) -> Any:
        return datasets.dataset(project(), run)

    @api.get("/datasets/{run}/examples")
    def get_examples(
        run: str,
        split: str | None = None,
        q: str = "",
        label: str | None = None,
        source: str | None = None,
        offset: int = 0,
        limit: int = 20,
    ) -> Any:
        return datasets.examples(
            project(), run, split=split, query=q, label=label, source=source, offset=offset, limit=min(limit, 200)
        )

    @api.get("/datasets/{run}/rejects")
    def get_rejects(run: str, reason: str | None = None, offset: int = 0, limit: int = 50) -> Any:
        return datasets.rejects(project(), run, reason=reason, offset=offset, limit=min(limit, 500))

    @api.get("/datasets/{run}/mask")
    def get_mask(run: str, id: str) -> Any:
        return datasets.loss_mask(project(), run, id, tokenizer())

    # -- knowledge base ---------------------------------------------------------------------------
    @api.get("/knowledge")
    def get_knowledge() -> Any:
        return knowledge.documents(project())

    @api.get("/knowledge/chunks")
    def get_chunks(file: str) -> Any:
        return {"file": file, "chunks": knowledge.chunks(project(), file)}

    @api.get("/knowledge/search")
    def get_search(q: str, k: int = 5, mode: str = "hybrid") -> Any:
        if mode not in ("hybrid", "dense", "keyword"):
            raise TunesmithError(f"unknown search mode '{mode}'", fix="Use hybrid, dense or keyword.")
        return {"query": q, "mode": mode, "hits": knowledge.search(project(), q, k=max(1, min(k, 50)), mode=mode)}

    # -- jobs -------------------------------------------------------------------------------------
    @api.get("/jobs")
    def list_jobs() -> Any:
        return {"jobs": [jobs.decorate(loaded, store, t) for t in store.list_tasks(limit=100)], "kinds": jobs.kinds()}

    @api.get("/forms/{kind}")
    def get_form(kind: str) -> Any:
        if kind not in forms.SECTIONS:
            raise TunesmithError(f"unknown job kind '{kind}'", fix=f"Use one of {', '.join(forms.SECTIONS)}.")
        current = project()
        return {"kind": kind, "fields": forms.form(current, kind), "choices": jobs.choices(current, kind)}

    @api.post("/jobs")
    def create_job(body: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
        return jobs.create(
            project(), store, str(body.get("kind", "")), dict(body.get("values") or {}), dict(body.get("inputs") or {})
        )

    @api.get("/jobs/{task_id}")
    def get_job(task_id: str) -> Any:
        task = store.get_task(task_id)
        if task is None:
            return JSONResponse({"error": {"message": f"no job {task_id}", "text": f"no job {task_id}"}}, 404)
        return jobs.decorate(loaded, store, task, detail=True)

    @api.post("/jobs/{task_id}/cancel")
    def cancel_job(task_id: str) -> Any:
        task = store.get_task(task_id)
        if task is None:
            return JSONResponse({"error": {"message": f"no job {task_id}", "text": f"no job {task_id}"}}, 404)
        if task["status"] in ("succeeded", "failed", "cancelled"):
            raise TunesmithError(f"job {task_id} has already {task['status']}")
        return store.cancel_task(task_id)

    # -- evaluations ------------------------------------------------------------------------------
    @api.get("/evaluations")
    def list_evaluations() -> Any:
        current = project()
        return {"evaluations": evaluations.list_evaluations(current), "primary": current.config.eval.primary}

    @api.get("/evaluations/compare")
    def compare(runs: str, metric: str | None = None) -> Any:
        return evaluations.compare(project(), [r for r in runs.split(",") if r], metric)

    @api.get("/evaluations/{run}")
    def get_evaluation(run: str) -> Any:
        return evaluations.evaluation(project(), run)

    @api.get("/evaluations/{run}/examples")
    def get_side_by_side(run: str, a: str, b: str, metric: str | None = None, offset: int = 0, limit: int = 20) -> Any:
        return evaluations.side_by_side(project(), run, a=a, b=b, metric=metric, offset=offset, limit=min(limit, 200))

    # -- releases ---------------------------------------------------------------------------------
    @api.get("/releases")
    def get_releases() -> Any:
        return releases.releases(project())

    @api.get("/releases/{version}/lineage")
    def get_lineage(version: str) -> Any:
        return releases.lineage(project(), version)

    @api.post("/releases/{version}/promote")
    def promote(version: str, body: dict[str, Any] = Body(default={})) -> Any:  # noqa: B008
        return releases.promote(project(), version, str(body.get("alias") or "production"))

    app.include_router(api)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")

    @app.get("/", include_in_schema=False)
    def index() -> Any:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})
