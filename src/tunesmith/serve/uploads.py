"""A dataset from an uploaded file: the web UI's way in for examples that are not in the project file.

Every row is accounted for: valid chat examples are split train/val/test with
the project's split settings (duplicates never straddle splits), preference
pairs go to the preference files of the same splits, and every row that could
not be read is written to the run's ``rejects.jsonl`` with its line and reason,
so a problem is shown where it is, never dropped.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tunesmith.core.hashing import sha256_file
from tunesmith.core.jsonl import write_jsonl
from tunesmith.core.rundir import RunDir
from tunesmith.data.config import SplitConfig
from tunesmith.data.formats.read import read_items
from tunesmith.data.split import assign_splits
from tunesmith.registry.runs import runs_root


def safe_filename(name: str | None, default: str = "upload.jsonl", max_bytes: int = 120) -> str:
    """An uploaded file's name as a label: no path separators, no control or format characters (NUL, bidi
    overrides), at most ``max_bytes`` of UTF-8 with its extension kept. It is shown back and names a temporary
    copy (the reader picks the format by extension); it is never a path the client chooses."""
    import unicodedata

    name = unicodedata.normalize("NFC", name or "").replace("/", "_").replace("\\", "_")
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C")).strip().lstrip(".")
    if not name.strip("._ "):
        return default
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension.encode()) > 16:
        stem, dot, extension = name, "", ""
    room = max_bytes - len((dot + extension).encode())
    stem = stem.encode()[:room].decode(errors="ignore").rstrip() or "upload"
    return stem + dot + extension


async def read_upload(request: Any, limit: int) -> tuple[dict[str, str], Any]:
    """The fields and the one file of a multipart upload, the file spooled to disk as it arrives (never whole
    in memory). Raises OpenAIError: 413 past ``limit`` (counted as the bytes arrive, by serve/guard.py), 400
    for a body that is not a whole multipart form with one non-empty file part."""
    from tunesmith.serve.guard import BodyTooLarge
    from tunesmith.serve.openai_schema import OpenAIError

    too_large = OpenAIError(413, f"File too large: the limit is {limit} bytes.", param="file", code="file_too_large")
    try:
        form = await request.form(max_files=1, max_fields=16, max_part_size=64 * 1024)
    except BodyTooLarge:
        raise too_large from None
    except Exception as exc:  # python-multipart's and Starlette's parse errors, a client gone mid-body
        # Starlette reads the body in a task group: the limit's exception may come wrapped in a group
        if isinstance(exc, ExceptionGroup) and exc.subgroup(BodyTooLarge) is not None:
            raise too_large from None
        detail = str(getattr(exc, "message", None) or exc or type(exc).__name__)[:200]
        raise OpenAIError(400, f"The upload is not a complete multipart form: {detail}", param="file") from None
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise OpenAIError(400, "Missing the 'file' part of the upload.", param="file")
    size = upload.size if upload.size is not None else 0
    if size > limit:
        raise OpenAIError(413, f"File too large: the limit is {limit} bytes.", param="file", code="file_too_large")
    if size == 0:
        raise OpenAIError(400, "The uploaded file is empty.", param="file")
    fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    return fields, upload


def dataset_from_upload(
    project_dir: Path,
    path: Path,
    *,
    filename: str,
    record_file: Any,
    split: SplitConfig,
    tokenizer: Any = None,
) -> dict[str, Any]:
    """Read ``path`` (any format `tunesmith data validate` reads), write a data run; return its report.

    ``record_file(path) -> file id`` stores the file once it has been read, so a file that cannot be read at
    all leaves nothing behind."""
    items = list(read_items(path))
    file_id = record_file(path)
    good = [item for item in items if item.example is not None]
    rejects = [_reject(item, filename) for item in items if item.example is None]
    rows = _split_rows(good, filename, split, tokenizer)
    run = RunDir.create(runs_root(project_dir), "data", {"upload": {"file": file_id, "filename": filename}})
    with run.running() as outcome:
        for name in ("train", "val", "test"):
            write_jsonl(run.path(f"{name}.jsonl"), rows.get(name, []))
            if rows.get(f"preference_{name}"):
                write_jsonl(run.path(f"preference_{name}.jsonl"), rows[f"preference_{name}"])
        write_jsonl(run.path("rejects.jsonl"), rejects)
        counts = {name: len(rows.get(name, [])) for name in ("train", "val", "test")}
        pairs = {
            name: len(rows.get(f"preference_{name}", []))
            for name in ("train", "val", "test")
            if rows.get(f"preference_{name}")
        }
        version = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()[:16]
        reasons: dict[str, int] = {}
        for reject in rejects:
            reasons[reject["reason"]] = reasons.get(reject["reason"], 0) + 1
        manifest = {
            "version": version,
            "rows_in": len(items),
            "examples": counts,
            "preference_pairs": pairs,
            "removed": reasons,
            "changed": {},
            "accounted": len(good) + len(rejects) == len(items),
            # like a data build's manifest, so lineage shows the upload with its digest
            "source_files": {filename: {"sha256": sha256_file(path), "bytes": path.stat().st_size, "file_id": file_id}},
        }
        run.write_json("manifest.json", manifest)
        run.record_inputs(dataset_version=version, upload=file_id, filename=filename)
        outcome.summary = {"version": version, "examples": counts, "rejected": reasons}
        outcome.status = "succeeded" if good else "failed"
    return {
        "run": run.id,
        "rows": len(items),
        "examples": counts,
        "preference_pairs": pairs,
        "problems": [f"line {r['where'].rsplit(':', 1)[-1]}: {r['reason']}: {r['detail']}" for r in rejects],
        "status": run.status,
    }


def _reject(item: Any, filename: str) -> dict[str, Any]:
    """A row that did not read as an example, as the data stage writes rejects."""
    return {
        "stage": "validate",
        "action": "removed",
        "reason": item.code or "invalid",
        "detail": item.message or "",
        "where": f"{filename}:{item.line}",
        "field": item.field,
        "raw": item.raw if isinstance(item.raw, dict | list | str) else None,
    }


def _split_rows(good: list[Any], filename: str, split: SplitConfig, tokenizer: Any) -> dict[str, list[dict[str, Any]]]:
    """Records by split file name (train/val/test, preference_* for pairs), split by prompt like a data build."""
    from tunesmith.data.template import count_chat_tokens

    keys = [[item.example.prompt_text()] for item in good]
    splits = assign_splits(keys, seed=split.seed, val=split.val, test=split.test) if good else []
    rows: dict[str, list[dict[str, Any]]] = {}
    for item, which in zip(good, splits, strict=True):
        example = item.example
        meta: dict[str, Any] = {"source": {"file": filename, "line": item.line}, "split": which}
        if example.kind == "chat" and tokenizer is not None:
            meta["tokens"] = count_chat_tokens(tokenizer, example.messages, example.tools)
        record: dict[str, Any] = {"id": example.id or f"{filename}:{item.line}", "messages": example.messages}
        if example.tools:
            record["tools"] = example.tools
        if example.kind == "preference":
            record.update(chosen=example.chosen, rejected=example.rejected)
            which = f"preference_{which}"
        record["meta"] = meta
        rows.setdefault(which, []).append(record)
    return rows
