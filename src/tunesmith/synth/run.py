"""`tunesmith data build`: golden outputs + knowledge base -> validated, deduplicated, split chat data.

For each golden output the stage retrieves the knowledge-base chunks it rests
on and picks the content points (extractive sentences, or a teacher model's
bullet facts), then writes an instruction of (input + points) paired with the
golden output. Nothing is silently dropped: every row that does not make it
into a split is in ``rejects.jsonl`` with its reason, and the counts add up.

Outputs in the run folder::

    train.jsonl val.jsonl test.jsonl   OpenAI chat format, plus `id` and `meta` (provenance)
    rejects.jsonl                      every row left out, with stage and reason
    manifest.json                      dataset version (content hash), counts, leakage check
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.core.atomic import write_jsonl
from tunesmith.core.errors import DataError
from tunesmith.core.progress import note, task
from tunesmith.core.rundir import RunDir
from tunesmith.data.clean import drop_exact_duplicates, group_related
from tunesmith.data.golden import GoldenRow, read_golden
from tunesmith.data.instruction import chat
from tunesmith.data.split import SPLITS, assign_split, normalize
from tunesmith.data.template import count_chat_tokens
from tunesmith.data.validate import check_record
from tunesmith.knowledge.config import KnowledgeConfig
from tunesmith.knowledge.embed import load_embedder
from tunesmith.knowledge.ingest import index_dir, ingest
from tunesmith.knowledge.points import PointPicker
from tunesmith.knowledge.retrieve import Retriever
from tunesmith.models.local import load_tokenizer
from tunesmith.models.resolve import local_path
from tunesmith.models.spec import EndpointModelRef, LocalModelRef
from tunesmith.synth.config import DataBuildConfig
from tunesmith.synth.teacher import PROMPT as TEACHER_PROMPT
from tunesmith.synth.teacher import teacher_points


@dataclass
class DataResult:
    run: RunDir
    version: str
    counts: dict[str, int]
    rejected: dict[str, int]


def run(
    cfg: DataBuildConfig,
    *,
    knowledge: KnowledgeConfig,
    system_prompt: str,
    base_model: LocalModelRef,
    project_dir: Path,
    run_dir: RunDir,
) -> DataResult:
    rows, read_rejects = read_golden(cfg.golden, project_dir)
    rejects: list[dict[str, Any]] = [
        {"stage": "read", "line": r.line, "reason": r.reason, "row": r.raw} for r in read_rejects
    ]
    rows_in = len(rows) + len(read_rejects)

    rows, duplicates = drop_exact_duplicates(rows, key=lambda r: f"{r.input}\n{r.output}")
    for dup, kept in duplicates:
        rejects.append(
            {
                "stage": "dedup",
                "line": dup.line,
                "id": dup.id,
                "reason": f"duplicate of '{kept.id}' (line {kept.line})",
                "row": _raw(dup),
            }
        )

    # -- content points --------------------------------------------------------------
    provenance: dict[str, Any] = {"strategy": "none"}
    points_by_row: list[list[dict[str, Any]]] = [[] for _ in rows]
    if cfg.points > 0:
        ingest(knowledge, project_dir)
        retriever = Retriever.open(index_dir(project_dir, knowledge.name))
        with task("Retrieving knowledge for golden outputs", len(rows)) as update:
            hits = []
            for start in range(0, len(rows), 64):
                batch = rows[start : start + 64]
                hits.extend(retriever.search_many([f"{r.input}\n{r.output}" for r in batch], k=cfg.retrieve_k))
                update(len(batch))
        if cfg.teacher is None:
            picker = PointPicker(load_embedder(knowledge.embedder))
            picked = picker.pick_many(
                hits, [r.output for r in rows], n=cfg.points, min_similarity=cfg.min_point_similarity
            )
            points_by_row = [[p.to_dict() for p in pts] for pts in picked]
            provenance = {
                "strategy": "extractive",
                "embedder": knowledge.embedder,
                "min_similarity": cfg.min_point_similarity,
            }
        else:
            points_by_row, provenance = _teacher(cfg, hits, rows, project_dir)

    # -- split: related rows (same input or same output) share a split -------------------
    groups = group_related([[r.input, r.output] for r in rows])
    group_key: dict[int, str] = {}
    for row, group in zip(rows, groups, strict=True):
        key = normalize(row.input)
        group_key[group] = min(group_key.get(group, key), key)
    split_cfg = cfg.split

    # -- records, validation, length -------------------------------------------------------
    tokenizer = load_tokenizer(
        local_path(base_model, project_dir),
        revision=base_model.revision,
        trust_remote_code=base_model.trust_remote_code,
    )
    splits: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    for row, group, points in zip(rows, groups, points_by_row, strict=True):
        split = assign_split(group_key[group], seed=split_cfg.seed, val=split_cfg.val, test=split_cfg.test)
        dropped = split == "train" and _hash_unit(f"{split_cfg.seed}:{row.id}") < cfg.points_dropout
        texts = [] if dropped else [p["text"] for p in points]
        messages = chat(system_prompt or None, row.input, texts)
        messages.append({"role": "assistant", "content": row.output})
        record = {
            "id": row.id,
            "messages": messages,
            "meta": {
                "input": row.input,
                "output": row.output,
                "split": split,
                "line": row.line,
                "label": row.label,
                "points": points,
                "points_in_prompt": not dropped and bool(points),
                "provenance": provenance,
            },
        }
        problems = check_record(record)
        if problems:
            rejects.append(
                {
                    "stage": "validate",
                    "line": row.line,
                    "id": row.id,
                    "reason": "; ".join(f"{c}: {m}" for c, _, m in problems),
                    "row": _raw(row),
                }
            )
            continue
        n_tokens = count_chat_tokens(tokenizer, messages)
        if n_tokens > cfg.max_tokens:
            rejects.append(
                {
                    "stage": "length",
                    "line": row.line,
                    "id": row.id,
                    "reason": f"{n_tokens} tokens after the chat template > data.max_tokens={cfg.max_tokens}",
                    "row": _raw(row),
                }
            )
            continue
        record["meta"]["tokens"] = n_tokens
        splits[split].append(record)

    counts = {s: len(v) for s, v in splits.items()}
    if counts["train"] == 0:
        raise DataError(
            "no training examples left after cleaning and splitting",
            where=str(project_dir / cfg.golden.path),
            fix="Add golden outputs, or check rejects.jsonl in the run folder for why rows were dropped.",
        )
    if counts["test"] == 0:
        note("[yellow]warning:[/] the test split is empty; raise data.split.test or add golden outputs")

    leakage = _leakage(splits)
    for split, records in splits.items():
        write_jsonl(run_dir.path(f"{split}.jsonl"), records)
    write_jsonl(run_dir.path("rejects.jsonl"), rejects)
    version = _version(splits)
    rejected = dict(Counter(r["stage"] for r in rejects))
    manifest = {
        "version": version,
        "rows_in": rows_in,
        "examples": counts,
        "rejected": rejected,
        "accounted": rows_in == sum(counts.values()) + len(rejects),
        "leakage": leakage,
        "points": {
            "strategy": provenance.get("strategy"),
            "mean_per_example": round(sum(len(p) for p in points_by_row) / max(len(rows), 1), 2),
            "examples_without_points": sum(1 for p in points_by_row if not p),
        },
        "tokens": {s: sum(r["meta"]["tokens"] for r in v) for s, v in splits.items()},
        "golden": str(cfg.golden.path),
    }
    run_dir.write_json("manifest.json", manifest)
    run_dir.record_inputs(golden=cfg.golden.path, knowledge=knowledge.name, dataset_version=version)
    return DataResult(run=run_dir, version=version, counts=counts, rejected=rejected)


def _teacher(
    cfg: DataBuildConfig, hits: list[Any], rows: list[GoldenRow], project_dir: Path
) -> tuple[list[list[dict[str, Any]]], dict[str, Any]]:
    from tunesmith.models.loader import load_generator

    assert cfg.teacher is not None
    generator = load_generator(cfg.teacher, project_dir)
    with task(f"Teacher {generator.name} writing content points", len(rows)) as update:
        facts = teacher_points(generator, hits, [r.output for r in rows], n=cfg.points, on_progress=update)
    by_row = []
    for row_hits, row_facts in zip(hits, facts, strict=True):
        sources = [h.citation() for h in row_hits]
        by_row.append([{"text": f, "sources": sources} for f in row_facts])
    ref = cfg.teacher
    name = ref.display_name if isinstance(ref, (LocalModelRef, EndpointModelRef)) else str(ref)
    return by_row, {"strategy": "teacher", "teacher": name, "prompt": TEACHER_PROMPT}


def _raw(row: GoldenRow) -> dict[str, Any]:
    return {"id": row.id, "input": row.input, "output": row.output, **row.extra}


def _hash_unit(key: str) -> float:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def _leakage(splits: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Normalized inputs or outputs shared between two splits (zero by construction; checked anyway)."""
    out: dict[str, int] = {}
    for a_i, a in enumerate(SPLITS):
        for b in SPLITS[a_i + 1 :]:
            for field in ("input", "output"):
                left = {normalize(r["meta"][field]) for r in splits[a]}
                right = {normalize(r["meta"][field]) for r in splits[b]}
                out[f"{a}/{b}/{field}"] = len(left & right)
    return out


def _version(splits: dict[str, list[dict[str, Any]]]) -> str:
    digest = hashlib.sha256()
    for split in SPLITS:
        for record in splits[split]:
            digest.update(split.encode())
            digest.update(json.dumps(record["messages"], sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()[:16]
