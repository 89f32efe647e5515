"""The Datasets page: data runs, their examples, rejected rows, token lengths and the loss-mask preview."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunesmith.core.errors import StageError
from tunesmith.core.jsonl import read_jsonl
from tunesmith.core.rundir import RunDir
from tunesmith.data.stats import equal_bins
from tunesmith.project import LoadedProject
from tunesmith.registry.runs import list_runs
from tunesmith.ui.overview import find_run, run_row

SPLITS = ("train", "val", "test")


def _read(path: Path) -> list[dict[str, Any]]:
    return read_jsonl(path) if path.is_file() else []


def data_run(loaded: LoadedProject, ref: str) -> RunDir:
    return find_run(loaded, "data", ref)


def list_datasets(loaded: LoadedProject) -> list[dict[str, Any]]:
    out = []
    for run in reversed(list_runs(loaded.dir, "data")):
        row = run_row(run)
        manifest = run.path("manifest.json")
        facts = json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else {}
        upload = (run.info.get("inputs") or {}).get("filename")
        row.update(
            version=facts.get("version"),
            examples=facts.get("examples") or {},
            rows_in=facts.get("rows_in"),
            source="upload: " + upload if upload else "project data" if "rows_in" in facts else "fine-tuning job",
        )
        out.append(row)
    return out


def _example_text(row: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in row.get("messages", []))


def dataset(loaded: LoadedProject, ref: str) -> dict[str, Any]:
    run = data_run(loaded, ref)
    manifest = (
        json.loads(run.path("manifest.json").read_text(encoding="utf-8")) if run.path("manifest.json").is_file() else {}
    )
    rejects = _read(run.path("rejects.jsonl"))
    reasons: dict[str, int] = {}
    for r in rejects:
        reasons[r.get("reason", "?")] = reasons.get(r.get("reason", "?"), 0) + 1
    lengths: list[int] = []
    labels: dict[str, int] = {}
    sources: dict[str, int] = {}
    for split in SPLITS:
        for row in _read(run.path(f"{split}.jsonl")):
            meta = row.get("meta", {})
            if isinstance(meta.get("tokens"), int):
                lengths.append(meta["tokens"])
            if meta.get("label"):
                labels[meta["label"]] = labels.get(meta["label"], 0) + 1
            source = (meta.get("source") or {}).get("file")
            if source:
                sources[source] = sources.get(source, 0) + 1
    return {
        "run": run_row(run),
        "manifest": manifest,
        "reject_reasons": reasons,
        "problems": sum(1 for r in rejects if r.get("stage") == "validate"),
        "labels": dict(sorted(labels.items())),
        "sources": sources,
        "histogram": [{"low": lo, "high": hi, "count": c} for lo, hi, c in equal_bins(lengths, count=16)],
        "max_length": loaded.config.train.max_length,
    }


def examples(
    loaded: LoadedProject,
    ref: str,
    *,
    split: str | None = None,
    query: str = "",
    label: str | None = None,
    source: str | None = None,
    offset: int = 0,
    limit: int = 20,
) -> dict[str, Any]:
    run = data_run(loaded, ref)
    needle = query.lower().strip()
    found = []
    for which in [split] if split in SPLITS else SPLITS:
        for row in _read(run.path(f"{which}.jsonl")):
            meta = row.get("meta", {})
            if label and meta.get("label") != label:
                continue
            if source and (meta.get("source") or {}).get("file") != source:
                continue
            if needle and needle not in _example_text(row).lower() and needle not in str(row.get("id", "")).lower():
                continue
            where = meta.get("source") or {}
            found.append(
                {
                    "id": row.get("id"),
                    "split": which,
                    "label": meta.get("label"),
                    "where": f"{where['file']}:{where['line']}" if where.get("file") else None,
                    "tokens": meta.get("tokens"),
                    "messages": row.get("messages", []),
                    "points": [
                        {"source": p.get("source"), "heading": p.get("heading"), "score": p.get("score")}
                        for p in meta.get("points") or []
                    ],
                }
            )
    return {"total": len(found), "offset": offset, "rows": found[offset : offset + limit]}


def rejects(
    loaded: LoadedProject, ref: str, *, reason: str | None = None, offset: int = 0, limit: int = 50
) -> dict[str, Any]:
    run = data_run(loaded, ref)
    rows = [r for r in _read(run.path("rejects.jsonl")) if not reason or r.get("reason") == reason]
    shown = [
        {
            "stage": r.get("stage"),
            "action": r.get("action"),
            "reason": r.get("reason"),
            "detail": r.get("detail"),
            "where": r.get("where"),
            "id": r.get("id"),
            "text": _example_text(r["example"])[:600] if isinstance(r.get("example"), dict) else None,
        }
        for r in rows
    ]
    return {"total": len(shown), "rows": shown[offset : offset + limit]}


def loss_mask(loaded: LoadedProject, ref: str, example_id: str, tokenizer: Any) -> dict[str, Any]:
    """The example through the model's chat template, token by token, with the trained ones marked."""
    from tunesmith.data.template import tokenize_turns

    run = data_run(loaded, ref)
    for split in SPLITS:
        for row in _read(run.path(f"{split}.jsonl")):
            if row.get("id") == example_id:
                # one sequence, or (a template that renders earlier turns differently later) one per turn,
                # shown one after the other
                sequences = tokenize_turns(tokenizer, row["messages"], row.get("tools"))
                ids = [t for tokenized in sequences for t in tokenized.input_ids]
                labels = [t for tokenized in sequences for t in tokenized.labels]
                return {
                    "id": example_id,
                    "tokens": [
                        {"text": tokenizer.decode([token]), "trained": label != -100}
                        for token, label in zip(ids, labels, strict=True)
                    ],
                    "total": len(ids),
                    "trained": sum(tokenized.trained_tokens for tokenized in sequences),
                    "sequences": len(sequences),
                }
    raise StageError(f"no example '{example_id}' in data run {ref}")
