"""Human labels: a person's grade of one evaluation output, or preference between two systems' outputs.

Labels live in the project (``eval.labels``, one JSON object per line), not in
a run folder, so they outlive re-runs and clean-ups. Each label carries the
texts it judged and a digest of the output: a later evaluation whose output
for the same example and system is the same text (greedy decoding reproduces
it) inherits the label, and a changed output does not. Labels are appended,
never rewritten; a person's later label of the same thing supersedes their
earlier one. Nothing here is ever put in a judge's prompt.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from tunesmith.core.errors import DataError
from tunesmith.core.schema import StrictModel
from tunesmith.core.stats import bootstrap_mean

MAX_TEXT = 20_000  # characters of one input / reference / output kept in a label
MAX_NOTE = 2_000


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class Label(StrictModel):
    """One human judgement. ``grade``: ``passed`` and/or a 1-5 ``score`` of ``system``'s output.
    ``pairwise``: ``systems`` in the order they were shown (left, right) and the ``preferred`` one, or tie."""

    id: str
    kind: Literal["grade", "pairwise"]
    run: str = Field(max_length=200)
    example: str = Field(max_length=500)
    who: str = Field(min_length=1, max_length=100)
    at: str
    input: str = Field(max_length=MAX_TEXT)
    reference: str = Field("", max_length=MAX_TEXT)
    note: str = Field("", max_length=MAX_NOTE)
    # grade
    system: str | None = Field(None, max_length=64)
    output: str | None = Field(None, max_length=MAX_TEXT)
    output_sha: str | None = None
    passed: bool | None = None
    score: int | None = Field(None, ge=1, le=5)
    # pairwise
    systems: list[str] | None = Field(None, min_length=2, max_length=2)
    outputs: list[str] | None = Field(None, min_length=2, max_length=2)
    outputs_sha: list[str] | None = Field(None, min_length=2, max_length=2)
    preferred: str | None = Field(None, max_length=64)

    def key(self) -> tuple[Any, ...]:
        """What a later label by the same person replaces: the same judgement of the same text(s)."""
        if self.kind == "grade":
            return ("grade", self.who, self.example, self.system, self.output_sha)
        pair = sorted(zip(self.systems or [], self.outputs_sha or [], strict=True))
        return ("pairwise", self.who, self.example, tuple(pair))


def grade(
    *,
    run: str,
    row: dict[str, Any],
    who: str,
    passed: bool | None,
    score: int | None,
    note: str = "",
) -> Label:
    """A grade of one output row of an evaluation run (its texts are taken from the row, not from the caller)."""
    if passed is None and score is None:
        raise DataError("a grade needs pass/fail, a 1-5 score, or both", fix="Send `passed` and/or `score`.")
    return Label(
        **_common("grade", run, row, who, note),
        system=row["system"],
        output=_clip(row["output"]),
        output_sha=digest(row["output"]),
        passed=passed,
        score=score,
    )


def preference(
    *, run: str, left: dict[str, Any], right: dict[str, Any], who: str, choice: str, note: str = ""
) -> Label:
    """A preference between two systems' outputs for one example, as shown (left, right); ``choice`` is
    ``left``, ``right`` or ``tie``."""
    if choice not in ("left", "right", "tie"):
        raise DataError(f"unknown choice {choice!r}", fix="Choose left, right or tie.")
    preferred = {"left": left["system"], "right": right["system"], "tie": "tie"}[choice]
    return Label(
        **_common("pairwise", run, left, who, note),
        systems=[left["system"], right["system"]],
        outputs=[_clip(left["output"]), _clip(right["output"])],
        outputs_sha=[digest(left["output"]), digest(right["output"])],
        preferred=preferred,
    )


def _common(kind: str, run: str, row: dict[str, Any], who: str, note: str) -> dict[str, Any]:
    """What every label records: a fresh id, who and when, which run and example, and the example's texts."""
    return {
        "id": f"lbl-{uuid.uuid4().hex[:16]}",
        "kind": kind,
        "run": run,
        "example": str(row["id"]),
        "who": who,
        "at": _now(),
        "input": _clip(row["input"]),
        "reference": _clip(row.get("reference") or ""),
        "note": note,
    }


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class LabelStore:
    """The project's labels file: appended under an exclusive lock (a page and the CLI may label at once)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, label: Label) -> Label:
        import fcntl
        import os

        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(label.model_dump(mode="json", exclude_none=True), ensure_ascii=False) + "\n"
        with self.path.open("a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return label

    def all(self) -> list[Label]:
        """Every label ever written, in order; a damaged line is an error naming it."""
        if not self.path.is_file():
            return []
        out = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                out.append(Label.model_validate(json.loads(line)))
            except (json.JSONDecodeError, ValidationError) as exc:
                first = str(exc).splitlines()[0] if isinstance(exc, json.JSONDecodeError) else _first_error(exc)
                raise DataError(
                    f"a label is not valid: {first}",
                    where=f"{self.path}:{number}",
                    fix="Fix or delete that line (labels are written by `tunesmith label` and the Review page).",
                ) from None
        return out

    def current(self) -> list[Label]:
        """The labels in force: for each person and thing judged, their latest label."""
        latest: dict[tuple[Any, ...], Label] = {}
        for label in self.all():
            latest.pop(label.key(), None)  # re-inserted last, so the order stays "by latest"
            latest[label.key()] = label
        return list(latest.values())


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def for_rows(labels: Iterable[Label], rows: list[dict[str, Any]]) -> list[Label]:
    """The labels that judged exactly these output rows (same example, system and output text): a label
    from an earlier run counts when the output has not changed."""
    shas = {(str(r["id"]), r["system"]): digest(r["output"]) for r in rows}
    out = []
    for label in labels:
        if label.kind == "grade":
            if shas.get((label.example, label.system or "")) == label.output_sha:
                out.append(label)
        elif all(
            shas.get((label.example, system)) == sha
            for system, sha in zip(label.systems or [], label.outputs_sha or [], strict=True)
        ):
            out.append(label)
    return out


# -- what a person is asked to judge next -------------------------------------------------------
@dataclass
class ReviewItem:
    example: str
    input: str
    reference: str
    shown: list[dict[str, Any]]  # one output (grade) or two (pairwise, in the order shown)
    label: Label | None  # this person's current label, if any


def review_items(
    rows: list[dict[str, Any]],
    labels: list[Label],
    *,
    run: str,
    who: str,
    systems: list[str] | None = None,
    pair: tuple[str, str] | None = None,
) -> list[ReviewItem]:
    """Grade mode: every output of ``systems`` (all when None), in an order shuffled per person so systems
    are not graded in blocks. Pairwise mode: each example both systems of ``pair`` answered, the two
    outputs in a random order per example and person (position bias cancels over a labelling session)."""
    mine = [label for label in for_rows(labels, rows) if label.who == who]
    by_key = {label.key(): label for label in mine}
    rng = random.Random(f"{run}|{who}")
    items: list[ReviewItem] = []
    if pair is None:
        chosen = [r for r in rows if systems is None or r["system"] in systems]
        for row in chosen:
            key = ("grade", who, str(row["id"]), row["system"], digest(row["output"]))
            items.append(ReviewItem(str(row["id"]), row["input"], row.get("reference") or "", [row], by_key.get(key)))
        rng.shuffle(items)
        return items
    by_example: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_example.setdefault(str(row["id"]), {})[row["system"]] = row
    for example, outs in by_example.items():
        if pair[0] not in outs or pair[1] not in outs:
            continue
        shown = [outs[pair[0]], outs[pair[1]]]
        if random.Random(f"{run}|{who}|{example}").random() < 0.5:
            shown.reverse()
        key = ("pairwise", who, example, tuple(sorted((r["system"], digest(r["output"])) for r in shown)))
        items.append(ReviewItem(example, shown[0]["input"], shown[0].get("reference") or "", shown, by_key.get(key)))
    return items


# -- labels as a metric -------------------------------------------------------------------------
def human_summary(
    labels: list[Label], *, resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> dict[str, Any] | None:
    """Per system: the human pass rate and mean 1-5 score with intervals; per pair of systems: the human
    preference win rate (a tie counts half). Several people's labels of one output are averaged first, so
    the interval is over examples, not over labels."""
    if not labels:
        return None

    def interval(values: list[float]) -> dict[str, Any]:
        return bootstrap_mean(values, resamples=resamples, confidence=confidence, seed=seed).to_dict()

    passed: dict[str, dict[str, list[float]]] = {}
    scores: dict[str, dict[str, list[float]]] = {}
    wins: dict[tuple[str, str], dict[str, list[float]]] = {}
    for label in labels:
        if label.kind == "grade" and label.system:
            if label.passed is not None:
                passed.setdefault(label.system, {}).setdefault(label.example, []).append(float(label.passed))
            if label.score is not None:
                scores.setdefault(label.system, {}).setdefault(label.example, []).append(float(label.score))
        elif label.kind == "pairwise" and label.systems:
            a, b = sorted(label.systems)
            value = 0.5 if label.preferred == "tie" else float(label.preferred == b)
            wins.setdefault((a, b), {}).setdefault(label.example, []).append(value)

    def per_example(values: dict[str, list[float]]) -> list[float]:
        return [sum(v) / len(v) for v in values.values()]

    systems = sorted(set(passed) | set(scores))
    out: dict[str, Any] = {
        "labels": len(labels),
        "labellers": sorted({label.who for label in labels}),
        "systems": {
            s: {
                "pass_rate": interval(per_example(passed[s])) if s in passed else None,
                "score": interval(per_example(scores[s])) if s in scores else None,
            }
            for s in systems
        },
        "pairwise": [
            {"system": b, "other": a, "win_rate": interval(per_example(values))}
            for (a, b), values in sorted(wins.items())
        ],
    }
    return out
