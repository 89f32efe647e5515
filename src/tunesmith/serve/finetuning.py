"""OpenAI's `/v1/files` and `/v1/fine_tuning/jobs`, backed by the job store and trained by the worker.

Shapes follow OpenAI's published API, so the official `openai` client works
unchanged but for `base_url`: upload a file with purpose `fine-tune`, create a
job, poll it, list its events and checkpoints, cancel it, and chat with the
`ft:` model it produced.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Request  # at module level: FastAPI resolves the handlers' annotations here
from pydantic import BaseModel, ConfigDict, Field

from tunesmith.serve.jobstore import TERMINAL, JobStore
from tunesmith.serve.openai_schema import error_body

PURPOSES = ("fine-tune", "assistants", "batch", "user_data", "evals", "vision")

Auto = Literal["auto"]


class Hyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n_epochs: int | Auto = "auto"
    batch_size: int | Auto = "auto"
    learning_rate_multiplier: float | Auto = "auto"
    beta: float | Auto | None = None


class MethodBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)


class Method(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["supervised", "dpo"]
    supervised: MethodBody | None = None
    dpo: MethodBody | None = None


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    training_file: str
    validation_file: str | None = None
    hyperparameters: Hyperparameters | None = None  # the older top-level form, for supervised
    method: Method | None = None
    suffix: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_.-]*$")
    seed: int | None = None
    metadata: dict[str, str] | None = None


def _positive(hp: Hyperparameters) -> str | None:
    for name in ("n_epochs", "batch_size", "learning_rate_multiplier", "beta"):
        value = getattr(hp, name)
        if isinstance(value, int | float) and value <= 0:
            return name
    return None


def file_object(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "file",
        "bytes": row["bytes"],
        "created_at": row["created_at"],
        "filename": row["filename"],
        "purpose": row["purpose"],
        "status": "processed",
        "expires_at": None,
        "status_details": None,
    }


def job_object(job: dict[str, Any]) -> dict[str, Any]:
    method = job["method"]
    hp = method.get(method["type"], {}).get("hyperparameters", {})
    # A job with a cancel request stays "running" (as OpenAI shows it) until training has actually stopped.
    status = job["status"]
    return {
        "id": job["id"],
        "object": "fine_tuning.job",
        "created_at": job["created_at"],
        "error": job.get("error"),
        "fine_tuned_model": job.get("fine_tuned_model"),
        "finished_at": job.get("finished_at"),
        "hyperparameters": {k: v for k, v in hp.items() if k != "beta" or method["type"] == "dpo"},
        "model": job["model"],
        "object_type": None,
        "organization_id": "tunesmith",
        "result_files": job.get("result_files") or [],
        "seed": job["seed"],
        "status": status,
        "trained_tokens": job.get("trained_tokens"),
        "training_file": job["training_file"],
        "validation_file": job.get("validation_file"),
        "integrations": [],
        "estimated_finish": job.get("estimated_finish"),
        "method": method,
        "metadata": job.get("metadata"),
        "user_provided_suffix": job.get("suffix"),
    }


def add_routes(app: Any, store: JobStore, *, base_model_ids: Any, max_upload_bytes: int) -> None:
    from fastapi.responses import JSONResponse, Response

    def error(status: int, message: str, *, param: str | None = None, code: str | None = None) -> Any:
        return JSONResponse(error_body(message, param=param, code=code), status_code=status)

    # -- files ------------------------------------------------------------------------------
    @app.post("/v1/files")
    async def upload(request: Request) -> Any:
        length = int(request.headers.get("content-length") or 0)
        if length > max_upload_bytes + 64 * 1024:
            return error(
                413, f"File too large: the limit is {max_upload_bytes} bytes.", param="file", code="file_too_large"
            )
        form = await request.form(max_part_size=max_upload_bytes + 1)
        purpose = form.get("purpose")
        upload = form.get("file")
        if not isinstance(purpose, str) or purpose not in PURPOSES:
            return error(400, f"Invalid purpose {purpose!r}: use one of {', '.join(PURPOSES)}.", param="purpose")
        if upload is None or isinstance(upload, str):
            return error(400, "Missing the 'file' part of the upload.", param="file")
        content = await upload.read()
        if len(content) > max_upload_bytes:
            return error(
                413, f"File too large: the limit is {max_upload_bytes} bytes.", param="file", code="file_too_large"
            )
        if not content:
            return error(400, "The uploaded file is empty.", param="file")
        # the name is only shown back: it never becomes part of a path
        name = (upload.filename or "upload").replace("/", "_").replace("\\", "_")[-200:]
        return file_object(store.add_file(name, purpose, content))

    @app.get("/v1/files")
    def list_files(purpose: str | None = None, limit: int = 10000, after: str | None = None) -> Any:
        rows = store.list_files(purpose)
        if after:
            ids = [r["id"] for r in rows]
            rows = rows[ids.index(after) + 1 :] if after in ids else []
        page = rows[: max(1, min(limit, 10000))]
        return {
            "object": "list",
            "data": [file_object(r) for r in page],
            "has_more": len(rows) > len(page),
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }

    def _file(file_id: str) -> Any:
        row = store.get_file(file_id)
        return row if row is not None else error(404, f"No such File object: {file_id}", param="id")

    @app.get("/v1/files/{file_id}")
    def get_file(file_id: str) -> Any:
        row = _file(file_id)
        return file_object(row) if isinstance(row, dict) else row

    @app.get("/v1/files/{file_id}/content")
    def file_content(file_id: str) -> Any:
        row = _file(file_id)
        if not isinstance(row, dict):
            return row
        return Response(store.file_path(file_id).read_bytes(), media_type="application/octet-stream")

    @app.delete("/v1/files/{file_id}")
    def delete_file(file_id: str) -> Any:
        if not store.delete_file(file_id):
            return error(404, f"No such File object: {file_id}", param="id")
        return {"id": file_id, "object": "file", "deleted": True}

    # -- fine-tuning jobs -----------------------------------------------------------------------
    @app.post("/v1/fine_tuning/jobs")
    def create_job(body: JobRequest) -> Any:
        if body.model not in base_model_ids():
            return error(
                400,
                f"Model {body.model} is not available for fine-tuning; use one of {sorted(base_model_ids())}.",
                param="model",
                code="model_not_available",
            )
        for param in ("training_file", "validation_file"):
            file_id = getattr(body, param)
            if file_id is None:
                continue
            row = store.get_file(file_id)
            if row is None:
                return error(400, f"Invalid file ID: {file_id}", param=param, code="invalid_file")
            if row["purpose"] != "fine-tune":
                return error(
                    400,
                    f"File {file_id} has purpose '{row['purpose']}', not 'fine-tune'.",
                    param=param,
                    code="invalid_file_purpose",
                )
        method = body.method or Method(
            type="supervised", supervised=MethodBody(hyperparameters=body.hyperparameters or Hyperparameters())
        )
        section = getattr(method, method.type) or MethodBody()
        hp = section.hyperparameters
        if method.type == "dpo" and hp.beta is None:
            hp.beta = "auto"
        if method.type == "supervised" and hp.beta is not None:
            return error(400, "beta applies to dpo only.", param="method.supervised.hyperparameters.beta")
        bad = _positive(hp)
        if bad:
            return error(400, f"{bad} must be positive or 'auto'.", param=f"method.{method.type}.hyperparameters.{bad}")
        method_json = {"type": method.type, method.type: {"hyperparameters": hp.model_dump(exclude_none=True)}}
        job = store.create_job(
            model=body.model,
            training_file=body.training_file,
            validation_file=body.validation_file,
            method=method_json,
            hyperparameters=method_json[method.type]["hyperparameters"],
            suffix=body.suffix,
            seed=body.seed if body.seed is not None else 42,
            metadata=body.metadata,
        )
        return job_object(job)

    @app.get("/v1/fine_tuning/jobs")
    def list_jobs(after: str | None = None, limit: int = 20) -> Any:
        jobs, more = store.list_jobs(after=after, limit=max(1, min(limit, 100)))
        return {"object": "list", "data": [job_object(j) for j in jobs], "has_more": more}

    def _job(job_id: str) -> Any:
        job = store.get_job(job_id)
        return (
            job
            if job is not None
            else error(
                404, f"Could not find fine-tune: {job_id}", param="fine_tuning_job_id", code="fine_tune_not_found"
            )
        )

    @app.get("/v1/fine_tuning/jobs/{job_id}")
    def get_job(job_id: str) -> Any:
        job = _job(job_id)
        return job_object(job) if isinstance(job, dict) else job

    @app.post("/v1/fine_tuning/jobs/{job_id}/cancel")
    def cancel_job(job_id: str) -> Any:
        job = _job(job_id)
        if not isinstance(job, dict):
            return job
        if job["status"] in TERMINAL:
            return error(
                400,
                f"Job {job_id} has already {job['status']}.",
                param="fine_tuning_job_id",
                code="job_not_cancellable",
            )
        return job_object(store.request_cancel(job_id))  # type: ignore[arg-type]

    @app.get("/v1/fine_tuning/jobs/{job_id}/events")
    def job_events(job_id: str, after: str | None = None, limit: int = 20) -> Any:
        job = _job(job_id)
        if not isinstance(job, dict):
            return job
        events, more = store.events(job_id, after=after, limit=max(1, min(limit, 1000)))
        return {
            "object": "list",
            "data": [
                {
                    "object": "fine_tuning.job.event",
                    "id": e["id"],
                    "created_at": e["created_at"],
                    "level": e["level"],
                    "message": e["message"],
                    "type": e["type"],
                    "data": e["data"],
                }
                for e in events
            ],
            "has_more": more,
        }

    @app.get("/v1/fine_tuning/jobs/{job_id}/checkpoints")
    def job_checkpoints(job_id: str, after: str | None = None, limit: int = 10) -> Any:
        job = _job(job_id)
        if not isinstance(job, dict):
            return job
        rows = store.checkpoints(job_id)
        if after:
            ids = [r["id"] for r in rows]
            rows = rows[ids.index(after) + 1 :] if after in ids else []
        page = rows[: max(1, min(limit, 100))]
        model = (
            job.get("fine_tuned_model")
            or f"ft:{job['model']}:{job.get('suffix') or 'tunesmith'}:{job_id.removeprefix('ftjob-')}"
        )
        return {
            "object": "list",
            "data": [
                {
                    "object": "fine_tuning.job.checkpoint",
                    "id": r["id"],
                    "created_at": r["created_at"],
                    "fine_tuned_model_checkpoint": f"{model}:ckpt-step-{r['step']}",
                    "step_number": r["step"],
                    "metrics": r["metrics"],
                    "fine_tuning_job_id": job_id,
                }
                for r in page
            ],
            "has_more": len(rows) > len(page),
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }
