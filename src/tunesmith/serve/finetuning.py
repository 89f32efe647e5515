"""OpenAI's `/v1/files` and `/v1/fine_tuning/jobs`, backed by the job store and trained by the worker.

Shapes follow OpenAI's published API, so the official `openai` client works
unchanged but for `base_url`: upload a file with purpose `fine-tune`, create a
job, poll it, list its events and checkpoints, cancel it, and chat with the
`ft:` model it produced. A job's training settings are typed here, once
(`train_settings`), and validated when the job is created, so a bad value is a
400 at once rather than a failed job later.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request  # at module level: FastAPI resolves the handlers' annotations here
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from tunesmith.serve.job_settings import train_settings
from tunesmith.serve.jobstore import TERMINAL, JobStore
from tunesmith.serve.openai_schema import OpenAIError, fine_tuned_model_id

PURPOSES = ("fine-tune", "assistants", "batch", "user_data", "evals", "vision")

Auto = Literal["auto"]


class Hyperparameters(BaseModel):
    """OpenAI's hyperparameters, with its published ranges (a value outside is a 400 naming the range)."""

    model_config = ConfigDict(extra="forbid")
    n_epochs: Annotated[int, Field(ge=1, le=50)] | Auto = "auto"
    batch_size: Annotated[int, Field(ge=1, le=256)] | Auto = "auto"
    learning_rate_multiplier: Annotated[float, Field(gt=0, le=10)] | Auto = "auto"
    beta: Annotated[float, Field(gt=0, le=10)] | Auto | None = None


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
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    metadata: dict[str, Annotated[str, Field(max_length=512)]] | None = Field(None, max_length=16)


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
        "status": job["status"],
        "trained_tokens": job.get("trained_tokens"),
        "training_file": job["training_file"],
        "validation_file": job.get("validation_file"),
        "integrations": [],
        "estimated_finish": job.get("estimated_finish"),
        "method": method,
        "metadata": job.get("metadata"),
        "user_provided_suffix": job.get("suffix"),
    }


def page(rows: list[dict[str, Any]], after: str | None, limit: int, shape: Any) -> dict[str, Any]:
    """OpenAI's list object over ``rows``, starting after the id ``after``."""
    if after:
        ids = [r["id"] for r in rows]
        rows = rows[ids.index(after) + 1 :] if after in ids else []
    shown = rows[:limit]
    return {
        "object": "list",
        "data": [shape(r) for r in shown],
        "has_more": len(rows) > len(shown),
        "first_id": shown[0]["id"] if shown else None,
        "last_id": shown[-1]["id"] if shown else None,
    }


def _store(request: Request) -> JobStore:
    return request.app.state.store  # type: ignore[no-any-return]


# -- files --------------------------------------------------------------------------------------
async def upload_file(request: Request) -> Any:
    from starlette.concurrency import run_in_threadpool

    from tunesmith.serve.uploads import read_upload, safe_filename

    fields, upload = await read_upload(request, request.app.state.max_upload_bytes)
    purpose = fields.get("purpose")
    if purpose not in PURPOSES:
        shown = repr(purpose)[:80]
        raise OpenAIError(400, f"Invalid purpose {shown}: use one of {', '.join(PURPOSES)}.", param="purpose")
    # the name is only shown back: it never becomes part of a path
    name = safe_filename(upload.filename, default="upload")
    try:
        return file_object(await run_in_threadpool(_store(request).add_file, name, purpose, upload.file))
    finally:
        await upload.close()


def list_files(request: Request, purpose: str | None = None, limit: int = 10000, after: str | None = None) -> Any:
    return page(_store(request).list_files(purpose), after, max(1, min(limit, 10000)), file_object)


def _file(request: Request, file_id: str) -> dict[str, Any]:
    row = _store(request).get_file(file_id)
    if row is None:
        raise OpenAIError(404, f"No such File object: {file_id}", param="id")
    return row


def get_file(request: Request, file_id: str) -> Any:
    return file_object(_file(request, file_id))


def file_content(request: Request, file_id: str) -> Any:
    _file(request, file_id)
    return Response(_store(request).file_path(file_id).read_bytes(), media_type="application/octet-stream")


def delete_file(request: Request, file_id: str) -> Any:
    if not _store(request).delete_file(file_id):
        raise OpenAIError(404, f"No such File object: {file_id}", param="id")
    return {"id": file_id, "object": "file", "deleted": True}


# -- fine-tuning jobs ---------------------------------------------------------------------------
def create_job(request: Request, body: JobRequest) -> Any:
    store = _store(request)
    bases = request.app.state.fine_tunable()
    if body.model not in bases:
        raise OpenAIError(
            400,
            f"Model {body.model} is not available for fine-tuning; use one of {sorted(bases)}.",
            param="model",
            code="model_not_available",
        )
    for param in ("training_file", "validation_file"):
        file_id = getattr(body, param)
        if file_id is None:
            continue
        row = store.get_file(file_id)
        if row is None:
            raise OpenAIError(400, f"Invalid file ID: {file_id}", param=param, code="invalid_file")
        if row["purpose"] != "fine-tune":
            raise OpenAIError(
                400,
                f"File {file_id} has purpose '{row['purpose']}', not 'fine-tune'.",
                param=param,
                code="invalid_file_purpose",
            )
    method = body.method or Method(
        type="supervised", supervised=MethodBody(hyperparameters=body.hyperparameters or Hyperparameters())
    )
    hp = (getattr(method, method.type) or MethodBody()).hyperparameters
    if method.type == "dpo" and hp.beta is None:
        hp.beta = "auto"
    if method.type == "supervised" and hp.beta is not None:
        raise OpenAIError(400, "beta applies to dpo only.", param="method.supervised.hyperparameters.beta")
    method_json = {"type": method.type, method.type: {"hyperparameters": hp.model_dump(exclude_none=True)}}
    seed = body.seed if body.seed is not None else 42
    # every setting checked now, not when training starts
    train_settings(method_json, seed, body.metadata, request.app.state.project.dir)
    job = store.create_job(
        model=body.model,
        training_file=body.training_file,
        validation_file=body.validation_file,
        method=method_json,
        hyperparameters=method_json[method.type]["hyperparameters"],
        suffix=body.suffix,
        seed=seed,
        metadata=body.metadata,
    )
    return job_object(job)


def list_jobs(request: Request, after: str | None = None, limit: int = 20) -> Any:
    jobs, more = _store(request).list_jobs(after=after, limit=max(1, min(limit, 100)))
    return {"object": "list", "data": [job_object(j) for j in jobs], "has_more": more}


def _job(request: Request, job_id: str) -> dict[str, Any]:
    job = _store(request).get_job(job_id)
    if job is None:
        raise OpenAIError(
            404, f"Could not find fine-tune: {job_id}", param="fine_tuning_job_id", code="fine_tune_not_found"
        )
    return job


def get_job(request: Request, job_id: str) -> Any:
    return job_object(_job(request, job_id))


def cancel_job(request: Request, job_id: str) -> Any:
    job = _job(request, job_id)
    if job["status"] in TERMINAL:
        raise OpenAIError(
            400, f"Job {job_id} has already {job['status']}.", param="fine_tuning_job_id", code="job_not_cancellable"
        )
    return job_object(_store(request).request_cancel(job_id))  # type: ignore[arg-type]


def job_events(request: Request, job_id: str, after: str | None = None, limit: int = 20) -> Any:
    _job(request, job_id)
    events, more = _store(request).events(job_id, after=after, limit=max(1, min(limit, 1000)))
    data = [
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
    ]
    return {"object": "list", "data": data, "has_more": more}


def job_checkpoints(request: Request, job_id: str, after: str | None = None, limit: int = 10) -> Any:
    job = _job(request, job_id)
    model = job.get("fine_tuned_model") or fine_tuned_model_id(job["model"], job.get("suffix"), job_id)

    def checkpoint(r: dict[str, Any]) -> dict[str, Any]:
        return {
            "object": "fine_tuning.job.checkpoint",
            "id": r["id"],
            "created_at": r["created_at"],
            "fine_tuned_model_checkpoint": f"{model}:ckpt-step-{r['step']}",
            "step_number": r["step"],
            "metrics": r["metrics"],
            "fine_tuning_job_id": job_id,
        }

    return page(_store(request).checkpoints(job_id), after, max(1, min(limit, 100)), checkpoint)


router = APIRouter(prefix="/v1")
router.add_api_route("/files", upload_file, methods=["POST"])
router.add_api_route("/files", list_files, methods=["GET"])
router.add_api_route("/files/{file_id}", get_file, methods=["GET"])
router.add_api_route("/files/{file_id}/content", file_content, methods=["GET"])
router.add_api_route("/files/{file_id}", delete_file, methods=["DELETE"])
router.add_api_route("/fine_tuning/jobs", create_job, methods=["POST"])
router.add_api_route("/fine_tuning/jobs", list_jobs, methods=["GET"])
router.add_api_route("/fine_tuning/jobs/{job_id}", get_job, methods=["GET"])
router.add_api_route("/fine_tuning/jobs/{job_id}/cancel", cancel_job, methods=["POST"])
router.add_api_route("/fine_tuning/jobs/{job_id}/events", job_events, methods=["GET"])
router.add_api_route("/fine_tuning/jobs/{job_id}/checkpoints", job_checkpoints, methods=["GET"])
