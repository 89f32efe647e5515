"""`tunesmith data build`: golden outputs + knowledge base (+ datasets you have) -> clean, split chat data.

For each golden output the stage retrieves the knowledge-base chunks it rests
on and picks the content points (extractive sentences, or a teacher model's
bullet facts), then writes an instruction of (input + points) paired with the
golden output. Existing datasets in `data.sources` join as they are. Then
everything is validated, cleaned (dedup, near-dup, PII, length, language) and
split with no duplicate across splits. Nothing is silently dropped: every row
that does not make it, or was changed, is in ``rejects.jsonl`` with its reason,
and the counts add up.

Outputs in the run folder::

    train.jsonl val.jsonl test.jsonl   OpenAI chat format, plus `id` and `meta` (provenance)
    rejects.jsonl                      every row left out or changed, with stage and reason
    manifest.json                      dataset version (content hash), counts, leakage check
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.core.errors import DataError
from tunesmith.core.hashing import file_digests
from tunesmith.core.jsonl import write_jsonl
from tunesmith.core.progress import note, task
from tunesmith.core.rundir import RunDir
from tunesmith.data.clean import Cleaner, drop_exact_duplicates
from tunesmith.data.formats.openai import OpenAIChat, preference_json
from tunesmith.data.formats.read import read_items
from tunesmith.data.golden import GoldenRow, read_golden, split_golden
from tunesmith.data.instruction import chat
from tunesmith.data.preview import stop_ids_of
from tunesmith.data.records import Example, RecordProblem
from tunesmith.data.split import SPLITS, assign_splits, leakage
from tunesmith.data.template import lint_example
from tunesmith.knowledge.config import KnowledgeConfig
from tunesmith.knowledge.embed import load_embedder
from tunesmith.knowledge.ingest import ingest
from tunesmith.knowledge.points import PointPicker
from tunesmith.knowledge.retrieve import Retriever
from tunesmith.models.local import tokenizer_for
from tunesmith.models.spec import LocalModelRef
from tunesmith.synth.config import DataBuildConfig, SourceConfig
from tunesmith.synth.teacher import PROMPT as TEACHER_PROMPT
from tunesmith.synth.teacher import teacher_points


@dataclass
class DataResult:
    run: RunDir
    version: str
    counts: dict[str, int]
    rejected: dict[str, int]


@dataclass
class Candidate:
    """An example on its way into a split, with where it came from."""

    example: Example
    split: str
    where: str  # file:line of the original


@dataclass
class Gathered:
    """Every example on its way in, the rows that did not make it, and what the sources reported."""

    candidates: list[Candidate] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    rows_in: int = 0
    provenance: dict[str, Any] = field(default_factory=lambda: {"strategy": "none"})
    points: dict[str, Any] = field(default_factory=dict)
    qa_pairs: dict[str, dict[str, Any]] = field(default_factory=dict)
    qa_stats: dict[str, Any] | None = None


def run(
    cfg: DataBuildConfig,
    *,
    knowledge: KnowledgeConfig,
    system_prompt: str,
    base_model: LocalModelRef,
    project_dir: Path,
    run_dir: RunDir,
) -> DataResult:
    gathered = gather(cfg, knowledge, system_prompt, base_model, project_dir)
    cleaner = Cleaner(cfg.clean)
    kept = clean(cleaner, gathered.candidates, gathered.rejects)
    if cfg.context == "runtime" and cfg.points > 0:
        gathered.provenance, gathered.points = _runtime_context(cfg, knowledge, project_dir, kept)
    if not cleaner.summary.names_checked and cfg.clean.pii != "off" and "name" in cfg.clean.pii_kinds:
        note("[yellow]note:[/] names were not scanned for (install spaCy with an English pipeline to enable it)")
    tokenizer = tokenizer_for(base_model, project_dir)  # with the project's chat_template, when it sets one
    splits, preference = into_splits(kept, tokenizer, cfg.max_tokens, gathered.rejects)
    counts = {s: len(v) for s, v in splits.items()}
    if counts["train"] == 0:
        raise DataError(
            "no training examples left after cleaning and splitting",
            where=str(project_dir / (cfg.golden.path if cfg.golden else "data")),
            fix="Add data, or check rejects.jsonl in the run folder for why rows were dropped.",
        )
    if counts["test"] == 0:
        note("[yellow]warning:[/] the test split is empty; raise data.split.test or add golden outputs")
    pairs_from_sources = sum(len(v) for v in preference.values())
    add_preference_pairs(cfg, splits, preference, gathered, base_model, project_dir)
    version = write_build(
        run_dir,
        cfg,
        knowledge,
        project_dir,
        gathered,
        splits,
        preference,
        clean_summary=cleaner.summary.to_dict(),
        pairs_from_sources=pairs_from_sources,
    )
    removed = _removed(gathered.rejects)
    return DataResult(run=run_dir, version=version, counts=counts, rejected=dict(removed))


def gather(
    cfg: DataBuildConfig, knowledge: KnowledgeConfig, system_prompt: str, base_model: LocalModelRef, project_dir: Path
) -> Gathered:
    """Candidates from the golden outputs (with their knowledge points), the data sources and KB Q&A."""
    out = Gathered()
    if cfg.golden is not None:
        candidates, rejects, out.rows_in, out.provenance, out.points = _from_golden(
            cfg, knowledge, system_prompt, project_dir
        )
        out.candidates += candidates
        out.rejects += rejects
    for source in cfg.sources:
        if source.mix is not None:
            continue
        candidates, rejects, n = _from_source(source, cfg, project_dir)
        out.candidates += candidates
        out.rejects += rejects
        out.rows_in += n
    task_train = sum(1 for c in out.candidates if c.split == "train" and c.example.kind == "chat")
    for source in cfg.sources:
        if source.mix is not None:
            candidates, rejects, n = _general_mix(source, cfg, project_dir, task_train)
            out.candidates += candidates
            out.rejects += rejects
            out.rows_in += n
    if out.rows_in == 0:
        raise DataError("no data to build from", where="data", fix="Declare data.golden or data.sources.")
    if cfg.kb_qa is not None:
        existing = [str(c.example.meta.get("input") or c.example.prompt_text()) for c in out.candidates]
        candidates, rejects, out.qa_pairs, out.qa_stats = _from_kb_qa(
            cfg, knowledge, system_prompt, base_model, project_dir, existing
        )
        out.candidates += candidates
        out.rejects += rejects
        out.rows_in += len(candidates)
    return out


def clean(cleaner: Cleaner, candidates: list[Candidate], rejects: list[dict[str, Any]]) -> list[Candidate]:
    """Dedup, near-dup, length, language, PII: what is kept (changed or not); every change is a reject row."""
    kept: list[Candidate] = []
    with task("Cleaning", len(candidates)) as update:
        for candidate in candidates:
            decision = cleaner.decide(candidate.where, candidate.example)
            update()
            if decision.reason:
                rejects.append(
                    {
                        "stage": "clean",
                        "action": "changed" if decision.kept else "removed",
                        "reason": decision.reason,
                        "detail": decision.detail,
                        "where": candidate.where,
                        "id": candidate.example.id,
                        "example": _record(decision.original or candidate.example),
                    }
                )
            if decision.kept:
                kept.append(Candidate(decision.example, candidate.split, candidate.where))
    return kept


Splits = dict[str, list[dict[str, Any]]]


def into_splits(
    kept: list[Candidate], tokenizer: Any, max_tokens: int, rejects: list[dict[str, Any]]
) -> tuple[Splits, Splits]:
    """(chat examples, preference pairs) per split: each chat validated and measured under the base model's
    chat template; a template or end-of-turn problem stops the build, since it affects every example."""
    stop_ids = stop_ids_of(tokenizer)
    splits: Splits = {s: [] for s in SPLITS}
    preference: Splits = {s: [] for s in SPLITS}
    for candidate in kept:
        example = candidate.example
        if example.kind == "preference":
            preference[candidate.split].append(
                {**preference_json(example), "id": example.id, "meta": {**example.meta, "split": candidate.split}}
            )
            continue
        messages = example.messages + (example.chosen or [])
        try:
            OpenAIChat().parse({"messages": messages, **({"tools": example.tools} if example.tools else {})})
        except RecordProblem as problem:
            rejects.append(_reject("validate", candidate, f"{problem.code}: {problem.message}"))
            continue
        sequences, findings = lint_example(tokenizer, messages, stop_ids, tools=example.tools)
        errors = [f for f in findings if f.severity == "error"]
        if errors or sequences is None:
            tools_fix = errors and errors[0].code == "template_without_tools"
            raise DataError(
                f"{errors[0].message} ({errors[0].code})" if errors else "the chat template cannot be rendered",
                where=candidate.where,
                fix="Give the base model a template that renders tools (models.base.chat_template; "
                "examples/order-tools has one)."
                if tools_fix
                else "Check the model's chat template with `tunesmith data preview`.",
            )
        n_tokens = max(len(tokenized.input_ids) for tokenized in sequences)
        if n_tokens > max_tokens:
            reason = f"{n_tokens} tokens after the chat template > data.max_tokens={max_tokens}"
            rejects.append(_reject("length", candidate, reason))
            continue
        record = {
            "id": example.id,
            "messages": messages,
            "meta": {**example.meta, "split": candidate.split, "tokens": n_tokens},
        }
        if example.tools:
            record["tools"] = example.tools
        splits[candidate.split].append(record)
    return splits, preference


def add_preference_pairs(
    cfg: DataBuildConfig,
    splits: Splits,
    preference: Splits,
    gathered: Gathered,
    base_model: LocalModelRef,
    project_dir: Path,
) -> None:
    """KB Q&A pairs for the examples that made it, and golden-vs-base-model pairs (``data.preferences``)."""
    if gathered.qa_pairs:
        for split, records in splits.items():
            preference[split].extend(
                {**gathered.qa_pairs[r["id"]], "meta": {**gathered.qa_pairs[r["id"]]["meta"], "split": split}}
                for r in records
                if r["id"] in gathered.qa_pairs
            )
    if cfg.preferences is not None:
        made = _preference_pairs(cfg, splits, base_model, project_dir, gathered.rejects)
        for split, pairs in made.items():
            preference[split].extend(pairs)


def write_build(
    run_dir: RunDir,
    cfg: DataBuildConfig,
    knowledge: KnowledgeConfig,
    project_dir: Path,
    gathered: Gathered,
    splits: Splits,
    preference: Splits,
    *,
    clean_summary: dict[str, Any],
    pairs_from_sources: int,
) -> str:
    """The splits, the rejects and the manifest (version, counts that add up, leakage, lineage); the version."""
    split_of = [s for s in SPLITS for _ in splits[s]]
    prompts = [_prompt_key(r) for s in SPLITS for r in splits[s]]
    leaks = leakage(split_of, prompts, near_threshold=cfg.clean.near_dup_threshold)
    for split, records in splits.items():
        write_jsonl(run_dir.path(f"{split}.jsonl"), records)
    for split, pairs in preference.items():
        if pairs:
            write_jsonl(run_dir.path(f"preference_{split}.jsonl"), pairs)
    rejects = gathered.rejects
    write_jsonl(run_dir.path("rejects.jsonl"), rejects)
    version = _version(splits)
    removed = _removed(rejects)
    changed = Counter(r["reason"] for r in rejects if r.get("action") == "changed")
    counts = {s: len(v) for s, v in splits.items()}
    manifest = {
        "version": version,
        "rows_in": gathered.rows_in,
        "examples": counts,
        "preference_pairs": {s: len(v) for s, v in preference.items() if v},
        "removed": dict(removed),
        "changed": dict(changed),
        "accounted": gathered.rows_in == sum(counts.values()) + pairs_from_sources + sum(removed.values()),
        "leakage": leaks,
        "clean": clean_summary,
        # what counted as personal data here: the gate's extraction probe looks for the same
        "pii": {
            "kinds": list(cfg.clean.pii_kinds),
            "allow": list(cfg.clean.pii_allow),
            "allow_domains": list(cfg.clean.pii_allow_domains),
        },
        "points": {"strategy": gathered.provenance.get("strategy"), **gathered.points},
        # the relevance gate's threshold as calibrated here: evaluation, gate and server read it
        "relevance": gathered.points.get("relevance"),
        "kb_qa": gathered.qa_stats,
        "tokens": {s: sum(r["meta"]["tokens"] for r in v) for s, v in splits.items()},
        "golden": cfg.golden.path if cfg.golden else None,
        "sources": [s.path for s in cfg.sources],
    }
    # lineage: exactly which files this dataset came from
    manifest["source_files"] = file_digests(
        project_dir, ([str(cfg.golden.path)] if cfg.golden else []) + [str(s.path) for s in cfg.sources]
    )
    if gathered.provenance.get("strategy") not in (None, "none") or gathered.qa_stats:
        from tunesmith.knowledge.store import open_store

        files = open_store(knowledge, project_dir).manifest().get("files", {})
        manifest["knowledge_files"] = {rel: info.get("sha256") for rel, info in files.items()}
    run_dir.write_json("manifest.json", manifest)
    run_dir.record_inputs(
        golden=cfg.golden.path if cfg.golden else None,
        sources=[s.path for s in cfg.sources],
        knowledge=knowledge.name,
        dataset_version=version,
    )
    return version


def _removed(rejects: list[dict[str, Any]]) -> Counter[str]:
    return Counter(
        r["reason"] if r["stage"] == "clean" else r["stage"] for r in rejects if r.get("action", "removed") == "removed"
    )


def _from_golden(
    cfg: DataBuildConfig, knowledge: KnowledgeConfig, system_prompt: str, project_dir: Path
) -> tuple[list[Candidate], list[dict[str, Any]], int, dict[str, Any], dict[str, Any]]:
    assert cfg.golden is not None
    golden_file = str(cfg.golden.path)
    rows, read_rejects = read_golden(cfg.golden, project_dir)
    rejects: list[dict[str, Any]] = [
        {"stage": "read", "where": f"{golden_file}:{r.line}", "reason": r.reason, "row": r.raw} for r in read_rejects
    ]
    rows_in = len(rows) + len(read_rejects)
    rows, duplicates = drop_exact_duplicates(rows, key=lambda r: f"{r.input}\n{r.output}")
    for dup, first in duplicates:
        rejects.append(
            {
                "stage": "dedup",
                "where": f"{golden_file}:{dup.line}",
                "id": dup.id,
                "reason": f"duplicate of '{first.id}' (line {first.line})",
                "row": _raw(dup),
            }
        )
    split_of = split_golden(rows, cfg.split, near_threshold=cfg.clean.near_dup_threshold)

    provenance: dict[str, Any] = {"strategy": "none"}
    points_by_row: list[list[dict[str, Any]]] = [[] for _ in rows]
    if cfg.points > 0 and cfg.context == "golden":
        ingest(knowledge, project_dir)
        retriever = Retriever.open(knowledge, project_dir)
        with task("Retrieving knowledge for golden outputs", len(rows)) as update:
            hits = []
            for start in range(0, len(rows), 64):
                batch = rows[start : start + 64]
                hits.extend(retriever.search_many([f"{r.input}\n{r.output}" for r in batch], k=cfg.retrieve_k))
                update(len(batch))
        if cfg.teacher is None:
            picker = PointPicker(load_embedder(knowledge.embedder_spec))
            picked = picker.pick_many(
                hits, [r.output for r in rows], n=cfg.points, min_similarity=cfg.min_point_similarity
            )
            points_by_row = [[p.to_dict() for p in pts] for pts in picked]
            provenance = {
                "strategy": "extractive",
                "embedder": knowledge.embedder_spec,
                "min_similarity": cfg.min_point_similarity,
            }
        else:
            points_by_row, provenance = _teacher(cfg, hits, rows, project_dir)

    candidates = []
    for row, split, points in zip(rows, split_of, points_by_row, strict=True):
        dropped = split == "train" and _hash_unit(f"{cfg.split.seed}:{row.id}") < cfg.points_dropout
        texts = [] if dropped else [p["text"] for p in points]
        messages = chat(system_prompt or None, row.input, texts)
        messages.append({"role": "assistant", "content": row.output})
        meta = {
            "input": row.input,
            "output": row.output,
            "line": row.line,
            "label": row.label,
            "points": points,
            "points_in_prompt": bool(texts),
            "provenance": provenance,
            "source": {"file": golden_file, "line": row.line, "format": "golden"},
        }
        candidates.append(
            Candidate(Example(messages=messages, id=row.id, meta=meta), split, f"{golden_file}:{row.line}")
        )
    stats = {
        "mean_per_example": round(sum(len(p) for p in points_by_row) / max(len(rows), 1), 2),
        "examples_without_points": sum(1 for p in points_by_row if not p),
    }
    return candidates, rejects, rows_in, provenance, stats


def _runtime_context(
    cfg: DataBuildConfig, knowledge: KnowledgeConfig, project_dir: Path, kept: list[Candidate]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every task chat example prompted with what the server would retrieve for it (synth/context.py)."""
    from tunesmith.knowledge.rag import RuntimeRag
    from tunesmith.synth.context import ContextSettings, attach_runtime_context

    ingest(knowledge, project_dir)
    settings = ContextSettings(
        points=cfg.points,
        retrieve_k=cfg.retrieve_k,
        min_point_similarity=cfg.min_point_similarity,
        distractors=cfg.distractors,
        missing_share=cfg.missing_share,
        points_dropout=cfg.points_dropout,
        citations=cfg.citations,
        cite_similarity=cfg.cite_similarity,
        seed=cfg.split.seed,
    )
    examples = [(c.example, c.split) for c in kept if not c.example.meta.get("mix")]
    stats = attach_runtime_context(examples, RuntimeRag.open(knowledge, project_dir), settings)
    provenance = {"strategy": "runtime", "embedder": knowledge.embedder_spec, "citations": cfg.citations}
    return provenance, stats


def _general_mix(
    source: SourceConfig, cfg: DataBuildConfig, project_dir: Path, task_train: int
) -> tuple[list[Candidate], list[dict[str, Any]], int]:
    """General-purpose examples for the train split, ``source.mix`` per task training example; the rest are
    listed as not sampled (nothing is dropped silently)."""
    assert source.mix is not None
    candidates, rejects, n = _from_source(source.model_copy(update={"split": "train"}), cfg, project_dir)
    want = min(len(candidates), round(source.mix * task_train))
    order = sorted(range(len(candidates)), key=lambda i: _hash_unit(f"{cfg.split.seed}:mix:{candidates[i].where}"))
    chosen = set(order[:want])
    kept = []
    for i, candidate in enumerate(candidates):
        if i in chosen:
            candidate.example.meta["mix"] = source.path
            kept.append(candidate)
        else:
            rejects.append(
                {
                    "stage": "mix",
                    "where": candidate.where,
                    "id": candidate.example.id,
                    "reason": f"not sampled: data.sources mix {source.mix:g} x {task_train} task examples = {want}",
                }
            )
    return kept, rejects, n


def _from_source(
    source: SourceConfig, cfg: DataBuildConfig, project_dir: Path
) -> tuple[list[Candidate], list[dict[str, Any]], int]:
    path = project_dir / source.path
    if not path.exists():
        raise DataError("data source not found", where=str(path), fix="Fix data.sources[].path in the project file.")
    examples: list[tuple[Example, str]] = []
    rejects: list[dict[str, Any]] = []
    n = 0
    for item in read_items(path, format=source.format, columns=source.columns):
        n += 1
        if item.example is None:
            rejects.append(
                {
                    "stage": "read",
                    "where": item.where,
                    "reason": f"{item.code}: {item.message}",
                    "field": item.field,
                    "row": item.raw,
                }
            )
        else:
            examples.append((item.example, item.where))
    if source.split == "auto":
        keys = [[e.prompt_text(), ((e.chosen or e.messages)[-1].get("content") or "")] for e, _ in examples]
        split_of = assign_splits(
            keys,
            seed=cfg.split.seed,
            val=cfg.split.val,
            test=cfg.split.test,
            near_texts=[k[0] for k in keys],
            near_threshold=cfg.clean.near_dup_threshold,
        )
    else:
        split_of = [source.split] * len(examples)
    candidates = []
    prefix = f"{project_dir}/"
    for (example, where), split in zip(examples, split_of, strict=True):
        # ids stay the same wherever the project folder is (runs are compared across machines)
        example.id = example.id or (where[len(prefix) :] if where.startswith(prefix) else where)
        candidates.append(Candidate(example, split, where))
    return candidates, rejects, n


def _from_kb_qa(
    cfg: DataBuildConfig,
    knowledge: KnowledgeConfig,
    system_prompt: str,
    base_model: LocalModelRef,
    project_dir: Path,
    existing_inputs: list[str],
) -> tuple[list[Candidate], list[dict[str, Any]], dict[str, dict[str, Any]], dict[str, Any]]:
    """Knowledge-base Q&A examples for the train split (never val/test: those judge the golden task)."""
    from tunesmith.models.journal import Journal
    from tunesmith.synth.qa import run_qa

    assert cfg.kb_qa is not None
    # content-addressed, so any later build (after a crash, or with more chunks) reuses finished generations
    journal = Journal(project_dir / ".tunesmith" / "cache" / "kb-qa-journal.jsonl")
    result = run_qa(
        cfg.kb_qa,
        knowledge=knowledge,
        system_prompt=system_prompt or None,
        base_model=base_model,
        project_dir=project_dir,
        journal=journal,
        existing_inputs=existing_inputs,
    )
    candidates = [
        Candidate(
            Example(messages=r["messages"], id=r["id"], meta=r["meta"]),
            "train",
            f"kb-qa:{r['meta']['provenance']['chunks'][0]['source']}",
        )
        for r in result.examples
    ]
    return candidates, result.rejects, {p["id"]: p for p in result.pairs}, result.stats


def _preference_pairs(
    cfg: DataBuildConfig,
    splits: dict[str, list[dict[str, Any]]],
    base_model: LocalModelRef,
    project_dir: Path,
    rejects: list[dict[str, Any]],
) -> dict[str, list[dict[str, Any]]]:
    from tunesmith.models.local import LocalGenerator
    from tunesmith.synth.preferences import base_model_pairs

    assert cfg.preferences is not None
    generator = LocalGenerator.load(base_model, project_dir)
    made: dict[str, list[dict[str, Any]]] = {}
    for split in cfg.preferences.splits:
        records = splits[split]
        with task(f"Preference pairs ({split}): base model answers", len(records)) as update:
            pairs, skipped = base_model_pairs(
                records, generator, max_new_tokens=cfg.preferences.max_new_tokens, on_progress=update
            )
        made[split] = pairs
        rejects.extend({"stage": "preferences", "action": "skipped", **s} for s in skipped)
    return made


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
    return by_row, {"strategy": "teacher", "teacher": cfg.teacher.display_name, "prompt": TEACHER_PROMPT}


def _reject(stage: str, candidate: Candidate, reason: str) -> dict[str, Any]:
    return {
        "stage": stage,
        "where": candidate.where,
        "id": candidate.example.id,
        "reason": reason,
        "example": _record(candidate.example),
    }


def _record(example: Example) -> dict[str, Any]:
    record = {"id": example.id, "messages": example.messages + (example.chosen or [])}
    if example.tools:
        record["tools"] = example.tools
    return record


def _raw(row: GoldenRow) -> dict[str, Any]:
    return {"id": row.id, "input": row.input, "output": row.output, **row.extra}


def _prompt_key(record: dict[str, Any]) -> str:
    meta = record.get("meta", {})
    if "input" in meta:
        return str(meta["input"])
    return "\n".join(str(m.get("content", "")) for m in record["messages"] if m.get("role") != "assistant")


def _hash_unit(key: str) -> float:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def _version(splits: dict[str, list[dict[str, Any]]]) -> str:
    digest = hashlib.sha256()
    for split in SPLITS:
        for record in splits[split]:
            digest.update(split.encode())
            digest.update(json.dumps(record["messages"], sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()[:16]
