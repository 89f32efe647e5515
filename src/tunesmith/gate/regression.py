"""The regression suite: must-pass cases, so a failure fixed once stays fixed.

A case is one JSONL line with an ``id``, an ``input`` and at least one
expectation. A file that cannot be used is one error naming the file, the line
and the fix, before any model is loaded.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.core.errors import ConfigError, DataError
from tunesmith.models.generation import Generator

EXPECTATIONS = ("exact", "contains", "not_contains", "regex", "not_regex", "rubric")
KNOWN = {"id", "input", "min_score", "reference", "note", *EXPECTATIONS}
NO_REFERENCE = "(no reference reply: grade against the rubric alone)"
DEFAULT_MIN_SCORE = 0.7


@dataclass
class Case:
    id: str
    input: str
    where: str
    expect: dict[str, Any]
    min_score: float = DEFAULT_MIN_SCORE
    reference: str = NO_REFERENCE
    patterns: dict[str, re.Pattern[str]] = field(default_factory=dict)

    @property
    def needs_judge(self) -> bool:
        return "rubric" in self.expect


def load_cases(path: Path) -> list[Case]:
    if not path.is_file():
        raise DataError(
            "the regression suite file does not exist", where=str(path), fix="Create it, or fix gates.regression.path."
        )
    cases: list[Case] = []
    seen: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON ({exc.msg})", where=where, fix="Write one JSON object per line.") from exc
        if not isinstance(row, dict):
            raise DataError("a case must be a JSON object", where=where, fix='Write {"id": ..., "input": ..., ...}.')
        unknown = sorted(set(row) - KNOWN)
        if unknown:
            raise DataError(
                f"unknown field(s) {', '.join(unknown)}", where=where, fix=f"Known fields: {', '.join(sorted(KNOWN))}."
            )
        if not isinstance(row.get("input"), str) or not row["input"].strip():
            raise DataError("the case has no `input` text", where=where, fix="Add the request the model must answer.")
        expect = {k: row[k] for k in EXPECTATIONS if k in row}
        if not expect:
            raise DataError("the case has no expectation", where=where, fix=f"Add one of: {', '.join(EXPECTATIONS)}.")
        case_id = str(row.get("id") or f"line-{number}")
        if case_id in seen:
            raise DataError(
                f"case id '{case_id}' repeats {seen[case_id]}", where=where, fix="Give every case its own id."
            )
        seen[case_id] = where
        patterns = {}
        for key in ("regex", "not_regex"):
            if key in expect:
                try:
                    patterns[key] = re.compile(expect[key], re.MULTILINE)
                except re.error as exc:
                    raise DataError(f"`{key}` is not a valid regular expression ({exc})", where=where) from exc
        for key in ("contains", "not_contains"):
            if key in expect and isinstance(expect[key], str):
                expect[key] = [expect[key]]
        min_score = row.get("min_score", DEFAULT_MIN_SCORE)
        if not isinstance(min_score, int | float) or not 0 <= min_score <= 1:
            raise DataError("`min_score` must be a number from 0 to 1", where=where)
        reference = str(row.get("reference") or NO_REFERENCE)
        cases.append(Case(case_id, row["input"], where, expect, float(min_score), reference, patterns))
    if not cases:
        raise DataError("the regression suite is empty", where=str(path), fix="Add at least one case.")
    return cases


def check_case(case: Case, output: str, score: float | None = None) -> list[str]:
    """The expectations ``output`` misses (empty: the case passes)."""
    failures = []
    expect = case.expect
    text = output.strip()
    if "exact" in expect and text != str(expect["exact"]).strip():
        failures.append("exact: the answer differs from the expected text")
    for phrase in expect.get("contains", []):
        if phrase.lower() not in text.lower():
            failures.append(f"contains: missing {phrase!r}")
    for phrase in expect.get("not_contains", []):
        if phrase.lower() in text.lower():
            failures.append(f"not_contains: has {phrase!r}")
    if "regex" in case.patterns and not case.patterns["regex"].search(text):
        failures.append(f"regex: no match for {expect['regex']!r}")
    if "not_regex" in case.patterns and case.patterns["not_regex"].search(text):
        failures.append(f"not_regex: matches {expect['not_regex']!r}")
    if case.needs_judge:
        if score is None or math.isnan(score):
            failures.append("rubric: the judge gave no score")
        elif score < case.min_score:
            failures.append(f"rubric: judge score {score:.2f} < {case.min_score:g}")
    return failures


def require_judge(cases: list[Case], judge: Generator | None) -> None:
    if judge is None and any(c.needs_judge for c in cases):
        first = next(c for c in cases if c.needs_judge)
        raise ConfigError(
            "a regression case has a `rubric`, but no judge model is configured",
            where=first.where,
            fix="Set eval.judge in the project file (a local model or an endpoint), or use exact/contains/regex.",
        )
