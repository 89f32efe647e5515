"""Validate fine-tuning data before any GPU time is spent on it.

Every supported format is read into the internal record first (each reader
reports its own structural problems: for OpenAI chat files, exactly the error
classes of OpenAI's data-preparation checks), then the checks that sink
fine-tunes in practice run on what was read: exact duplicates, examples longer
than the model's maximum after its chat template, too few examples, and
inconsistent system prompts. Every problem carries file, line and field;
reading streams, so memory does not grow with the file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.core.errors import DataError
from tunesmith.data.formats.read import read_items
from tunesmith.data.records import Example

MIN_EXAMPLES = 10
RECOMMENDED_EXAMPLES = 50


@dataclass
class Problem:
    severity: str  # "error" | "warning"
    code: str
    message: str
    file: str
    line: int | None = None
    field: str | None = None

    def render(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        at = f" [{self.field}]" if self.field else ""
        return f"{where}:{at} {self.severity}: {self.message} ({self.code})"


@dataclass
class Report:
    files: list[str] = field(default_factory=list)
    examples: int = 0  # records read (valid or not)
    valid: int = 0
    formats: dict[str, str] = field(default_factory=dict)  # file -> detected format
    problems: list[Problem] = field(default_factory=list)
    unusable: bool = False  # nothing could be read at all: exit code 2

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def exit_code(self) -> int:
        if self.unusable:
            return 2
        return 1 if self.errors else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "formats": self.formats,
            "examples": self.examples,
            "valid": self.valid,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "by_code": dict(Counter(p.code for p in self.problems)),
            "exit_code": self.exit_code,
            "problems": [asdict(p) for p in self.problems],
        }


def system_prompt_of(example: Example) -> str | None:
    for message in example.messages:
        if message.get("role") == "system":
            return str(message.get("content"))
    return None


@dataclass
class _Seen:
    """What the checks across files remember: each example's first place, and the system prompts used."""

    digests: dict[str, tuple[str, int]] = field(default_factory=dict)
    systems: Counter[str | None] = field(default_factory=Counter)
    first_system: dict[str | None, tuple[str, int]] = field(default_factory=dict)


def validate_files(
    paths: list[Path],
    *,
    format: str | None = None,
    columns: dict[str, str] | None = None,
    count_tokens: Callable[[list[dict[str, Any]], Any], int] | None = None,
    max_tokens: int | None = None,
) -> Report:
    """Validate data files. ``count_tokens`` renders a conversation through the model's chat template."""
    report = Report(files=[str(p) for p in paths])
    seen = _Seen()
    too_long = _length_check(count_tokens, max_tokens)
    readable = sum(_validate_file(path, report, seen, format, columns, too_long) for path in paths)
    if readable == 0:
        report.unusable = True
        return report
    _check_count(report)
    _check_system_prompts(report, seen)
    return report


def _length_check(
    count_tokens: Callable[[list[dict[str, Any]], Any], int] | None, max_tokens: int | None
) -> Callable[[Example], str | None] | None:
    """What is wrong with an example's length under the chat template (None when within), or no check at all."""
    if count_tokens is None or max_tokens is None:
        return None

    def over(example: Example) -> str | None:
        branches = [example.chosen or [], example.rejected or []] if example.kind == "preference" else [[]]
        # the declared tools are part of the prompt the model sees, so of the length
        n = max(count_tokens(example.messages + branch, example.tools) for branch in branches)
        return f"{n} tokens after the chat template, over the maximum of {max_tokens}" if n > max_tokens else None

    return over


def _validate_file(
    path: Path,
    report: Report,
    seen: _Seen,
    format: str | None,
    columns: dict[str, str] | None,
    too_long: Callable[[Example], str | None] | None,
) -> bool:
    """Check one file's examples into ``report``; whether the file could be read at all."""
    name = str(path)
    if not path.exists():
        report.problems.append(Problem("error", "file_not_found", "file not found", name))
        return False
    if path.is_file() and path.stat().st_size == 0:
        report.problems.append(Problem("error", "empty_file", "file is empty", name))
        return False
    records = 0
    try:
        for item in read_items(path, format=format, columns=columns):
            records += 1
            report.examples += 1
            if item.example is None:
                report.problems.append(
                    Problem("error", item.code or "invalid", item.message or "", name, item.line, item.field)
                )
                continue
            _check_example(item.example, name, item.line, report, seen, too_long)
    except DataError as exc:
        report.problems.append(Problem("error", "unreadable_file", exc.what, name))
        return False
    if records == 0:
        report.problems.append(Problem("error", "empty_file", "file has no examples (only blank lines)", name))
        return False
    return True


def _check_example(
    example: Example,
    name: str,
    line: int,
    report: Report,
    seen: _Seen,
    too_long: Callable[[Example], str | None] | None,
) -> None:
    report.formats.setdefault(name, example.meta.get("source", {}).get("format", "?"))
    report.valid += 1
    digest = example.fingerprint()
    if digest in seen.digests:
        first = seen.digests[digest]
        report.problems.append(Problem("error", "duplicate", f"exact duplicate of {first[0]}:{first[1]}", name, line))
        return
    seen.digests[digest] = (name, line)
    system = system_prompt_of(example)
    seen.systems[system] += 1
    seen.first_system.setdefault(system, (name, line))
    problem = too_long(example) if too_long is not None else None
    if problem is not None:
        report.problems.append(Problem("error", "too_long", problem, name, line, "messages"))


def _check_count(report: Report) -> None:
    target = ", ".join(report.files)
    if report.valid < MIN_EXAMPLES:
        report.problems.append(
            Problem(
                "error",
                "too_few_examples",
                f"{report.valid} usable examples; at least {MIN_EXAMPLES} are needed",
                target,
            )
        )
    elif report.valid < RECOMMENDED_EXAMPLES:
        report.problems.append(
            Problem(
                "warning",
                "few_examples",
                f"{report.valid} examples; {RECOMMENDED_EXAMPLES} or more usually give clearly better results",
                target,
            )
        )


def _check_system_prompts(report: Report, seen: _Seen) -> None:
    if len(seen.systems) <= 1:
        return
    common, count = seen.systems.most_common(1)[0]
    for system, n in seen.systems.items():
        if system == common:
            continue
        file, line_no = seen.first_system[system]
        label = "no system prompt" if system is None else f"system prompt {system[:40]!r}"
        report.problems.append(
            Problem(
                "warning",
                "inconsistent_system_prompt",
                f"{n} examples use {label} while {count} use the most common one; the model learns whatever mix "
                "it sees",
                file,
                line_no,
                "messages[0]",
            )
        )
