"""The Review page: people grade an evaluation's outputs (or prefer one of two), blind, from the keyboard.

Outputs are named to the page by an opaque key (a digest of example, system and
text), never by system, so a grader does not know whose answer they read;
the server maps the key back to the run's own row, so a label always carries
the texts the run produced, not what a client sent.
"""

from __future__ import annotations

from typing import Any

from tunesmith.core.errors import DataError
from tunesmith.core.jsonl import read_jsonl
from tunesmith.eval.calibration import label_store, latest_check
from tunesmith.eval.labels import Label, digest, for_rows, grade, human_summary, preference, review_items
from tunesmith.project import LoadedProject
from tunesmith.ui.overview import find_run, run_row


def item_key(row: dict[str, Any]) -> str:
    return digest(f"{row['id']}\x00{row['system']}\x00{row['output']}")


def _rows(loaded: LoadedProject, ref: str) -> tuple[Any, list[dict[str, Any]]]:
    run = find_run(loaded, "eval", ref)
    if not run.path("outputs.jsonl").is_file():
        raise DataError(f"evaluation {ref} has no outputs to review (yet)", fix="Open a finished evaluation.")
    return run, read_jsonl(run.path("outputs.jsonl"))


def _public(label: Label | None) -> dict[str, Any] | None:
    if label is None:
        return None
    return {"passed": label.passed, "score": label.score, "preferred": label.preferred, "at": label.at}


def review(
    loaded: LoadedProject,
    ref: str,
    *,
    who: str,
    mode: str,
    system: str | None,
    a: str | None,
    b: str | None,
    offset: int,
    limit: int,
) -> dict[str, Any]:
    run, rows = _rows(loaded, ref)
    systems = list(dict.fromkeys(r["system"] for r in rows))
    pair: tuple[str, str] | None = None
    if mode == "pairwise":
        # by default the question most reviews ask: did fine-tuning beat the model it started from?
        a = a or next((s for s in ("baseline", "base") if s in systems), systems[0] if systems else None)
        b = b or next((s for s in ("finetuned", "finetuned+rag") if s in systems), systems[-1] if systems else None)
        if a not in systems or b not in systems or a == b:
            raise DataError(
                "pairwise review needs two different systems of this run", fix=f"Pick two of: {', '.join(systems)}."
            )
        pair = (a, b)  # type: ignore[assignment]
    elif system is not None and system not in systems:
        raise DataError(f"the run has no system {system!r}", fix=f"Pick from: {', '.join(systems)}.")
    store = label_store(loaded.dir, loaded.config.eval)
    labels = store.current()
    items = review_items(rows, labels, run=run.id, who=who, systems=[system] if system else None, pair=pair)
    # what is not labelled yet comes first, so a session continues where it stopped
    ordered = [i for i in items if i.label is None] + [i for i in items if i.label is not None]
    cfg = loaded.config.eval
    check = latest_check(loaded.dir, cfg) if cfg.judge is not None else None
    return {
        "run": run_row(run),
        "who": who,
        "mode": mode,
        "systems": systems,
        "pair": list(pair) if pair else None,
        "total": len(items),
        "labelled": sum(i.label is not None for i in items),
        "items": [
            {
                "example": i.example,
                "input": i.input,
                "reference": i.reference,
                "shown": [{"key": item_key(r), "output": r["output"]} for r in i.shown],
                "label": _public(i.label),
            }
            for i in ordered[offset : offset + limit]
        ],
        "human": human_summary(for_rows(labels, rows), resamples=500),
        "judge": {
            "configured": cfg.judge is not None,
            "check": None
            if check is None
            else {"run": check["run"], "trusted": check["trusted"], "reason": check["reason"]},
        },
    }


def add_label(
    loaded: LoadedProject,
    ref: str,
    *,
    who: str,
    keys: list[str],
    passed: bool | None,
    score: int | None,
    choice: str | None,
    note: str,
) -> dict[str, Any]:
    run, rows = _rows(loaded, ref)
    by_key = {item_key(r): r for r in rows}
    missing = [k for k in keys if k not in by_key]
    if missing:
        raise DataError(
            f"no output with key {missing[0]} in evaluation {run.id}", fix="Reload the page: the outputs changed."
        )
    store = label_store(loaded.dir, loaded.config.eval)
    if len(keys) == 1:
        if choice is not None:
            raise DataError("a grade of one output has no choice", fix="Send passed and/or score.")
        label = grade(run=run.id, row=by_key[keys[0]], who=who, passed=passed, score=score, note=note)
    else:
        left, right = by_key[keys[0]], by_key[keys[1]]
        if left["id"] != right["id"] or left["system"] == right["system"]:
            raise DataError("a preference compares two systems' outputs for one example", fix="Reload the page.")
        if choice is None or passed is not None or score is not None:
            raise DataError("a preference needs a choice (left, right or tie) and nothing else", fix="Send choice.")
        label = preference(run=run.id, left=left, right=right, who=who, choice=choice, note=note)
    store.add(label)
    # the reveal after the fact: which systems the person just judged
    return {
        "id": label.id,
        "kind": label.kind,
        "systems": label.systems or [label.system],
        "passed": label.passed,
        "score": label.score,
        "preferred": label.preferred,
    }
