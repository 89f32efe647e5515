"""Cleaning with nothing lost.

Each example passes, in order: exact dedup, near-duplicate removal (MinHash
LSH), length and language filters, and the PII scan (redact, drop or report).
Every example removed or changed is written to the rejects stream with its
reason; the summary counts in = out + removed, per reason, always.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tunesmith.data.config import CleanConfig
from tunesmith.data.records import Example
from tunesmith.data.split import normalize

T = TypeVar("T")


def drop_exact_duplicates(items: Sequence[T], key: Callable[[T], str]) -> tuple[list[T], list[tuple[T, T]]]:
    """Keep the first of each normalized key; return (kept, [(dropped, the kept one it duplicates)])."""
    first: dict[str, T] = {}
    kept: list[T] = []
    dropped: list[tuple[T, T]] = []
    for item in items:
        k = normalize(key(item))
        if k in first:
            dropped.append((item, first[k]))
        else:
            first[k] = item
            kept.append(item)
    return kept, dropped


@dataclass
class CleanSummary:
    examples_in: int = 0
    examples_out: int = 0
    removed: Counter[str] = field(default_factory=Counter)
    changed: Counter[str] = field(default_factory=Counter)
    pii_found: Counter[str] = field(default_factory=Counter)
    names_checked: bool = False

    @property
    def adds_up(self) -> bool:
        return self.examples_in == self.examples_out + sum(self.removed.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "in": self.examples_in,
            "out": self.examples_out,
            "removed": dict(self.removed),
            "changed": dict(self.changed),
            "pii_found": dict(self.pii_found),
            "adds_up": self.adds_up,
            "names_checked": self.names_checked,
        }


@dataclass
class Decision:
    example: Example
    kept: bool
    reason: str | None = None  # why it was removed or changed
    detail: str = ""
    original: Example | None = None  # before redaction, when changed


class Cleaner:
    """Streaming cleaner: feed examples one by one, in order."""

    def __init__(self, cfg: CleanConfig) -> None:
        self.cfg = cfg
        self.summary = CleanSummary()
        self._exact: dict[str, str] = {}
        self._near = None
        if cfg.near_dup_threshold is not None:
            from tunesmith.data.near_dup import NearDuplicateIndex

            self._near = NearDuplicateIndex(cfg.near_dup_threshold)
        self._pii = None
        if cfg.pii != "off":
            from tunesmith.data.pii import PIIScanner

            self._pii = PIIScanner(cfg.pii_kinds, cfg.pii_allow, cfg.pii_allow_domains)
            self.summary.names_checked = self._pii.names_available
        self._langid = None
        if cfg.languages:
            from tunesmith.core.deps import require

            langid = require("py3langid.langid", purpose="language filtering")
            # normalized probabilities, so min_language_confidence is a probability
            self._langid = langid.LanguageIdentifier.from_model_file(langid.MODEL_FILE, norm_probs=True)

    def run(self, examples: Iterable[tuple[str, Example]]) -> Iterator[Decision]:
        """``examples`` are (location, example) pairs; the location names the original in reasons."""
        for where, example in examples:
            yield self.decide(where, example)

    def decide(self, where: str, example: Example) -> Decision:
        self.summary.examples_in += 1
        decision = self._decide(where, example)
        if decision.kept:
            self.summary.examples_out += 1
            if decision.reason:
                self.summary.changed[decision.reason] += 1
        else:
            self.summary.removed[decision.reason or "removed"] += 1
        return decision

    def _decide(self, where: str, example: Example) -> Decision:
        cfg = self.cfg
        text = example.text()
        if cfg.exact_dedup:
            key = hashlib.sha1(normalize(text).encode()).hexdigest()
            if key in self._exact:
                return Decision(example, False, "exact_duplicate", f"duplicate of {self._exact[key]}")
            self._exact[key] = where
        if self._near is not None:
            match = self._near.check_and_add(where, text)
            if match is not None:
                return Decision(
                    example, False, "near_duplicate", f"near-duplicate of {match[0]} (Jaccard ~{match[1]:.2f})"
                )
        words = len(text.split())
        if cfg.min_words is not None and words < cfg.min_words:
            return Decision(example, False, "too_short", f"{words} words < {cfg.min_words}")
        if cfg.max_words is not None and words > cfg.max_words:
            return Decision(example, False, "too_long", f"{words} words > {cfg.max_words}")
        if self._langid is not None and len(text) >= 20:
            lang, confidence = self._langid.classify(text)
            if lang not in (cfg.languages or []) and confidence >= cfg.min_language_confidence:
                return Decision(example, False, "language", f"detected '{lang}' ({confidence:.2f})")
        if self._pii is not None:
            return self._scan(example)
        return Decision(example, True)

    def _scan(self, example: Example) -> Decision:
        from tunesmith.data.pii import redact, summarize

        assert self._pii is not None
        found: Counter[str] = Counter()
        redacted_parts = []
        for group in (example.messages, example.chosen or [], example.rejected or []):
            new_group = []
            for message in group:
                content = message.get("content")
                if isinstance(content, str) and content:
                    findings = self._pii.scan(content)
                    if findings:
                        found.update(summarize(findings))
                        message = {**message, "content": redact(content, findings)}
                new_group.append(message)
            redacted_parts.append(new_group)
        if not found:
            return Decision(example, True)
        self.summary.pii_found.update(found)
        detail = ", ".join(f"{kind} x{n}" for kind, n in sorted(found.items()))
        if self.cfg.pii == "drop":
            return Decision(example, False, "pii", detail)
        if self.cfg.pii == "report":
            return Decision(example, True, "pii_reported", detail)
        messages, chosen, rejected = redacted_parts
        cleaned = Example(
            messages=messages,
            chosen=chosen if example.chosen is not None else None,
            rejected=rejected if example.rejected is not None else None,
            tools=example.tools,
            id=example.id,
            meta=example.meta,
        )
        return Decision(cleaned, True, "pii_redacted", detail, original=example)


def clean_files(
    paths: list[Any],
    cfg: CleanConfig,
    *,
    out: Any,
    rejects: Any,
    format: str | None = None,
    columns: dict[str, str] | None = None,
    on_progress: Callable[..., None] | None = None,
) -> CleanSummary:
    """Stream files through the cleaner: kept examples to ``out`` (OpenAI JSONL), the rest to ``rejects``.

    Unreadable records count as removed (reason: their problem code), so in = out + removed holds for
    everything read. Output files appear only when complete (written to a temporary name first).
    """
    import json
    from pathlib import Path

    from tunesmith.data.formats.openai import chat_json, preference_json
    from tunesmith.data.formats.read import read_items

    cleaner = Cleaner(cfg)
    out, rejects = Path(out), Path(rejects)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out, tmp_rejects = out.with_name(f".{out.name}.tmp"), rejects.with_name(f".{rejects.name}.tmp")
    with tmp_out.open("w", encoding="utf-8") as kept, tmp_rejects.open("w", encoding="utf-8") as rejected:
        for path in paths:
            for item in read_items(Path(path), format=format, columns=columns):
                if on_progress is not None:
                    on_progress(1)
                if item.example is None:
                    cleaner.summary.examples_in += 1
                    cleaner.summary.removed[item.code or "invalid"] += 1
                    rejected.write(
                        json.dumps(
                            {
                                "where": item.where,
                                "action": "removed",
                                "reason": item.code,
                                "detail": item.message,
                                "field": item.field,
                                "row": item.raw,
                            },
                            ensure_ascii=False,
                            default=str,
                        )
                        + "\n"
                    )
                    continue
                decision = cleaner.decide(item.where, item.example)
                example = decision.example
                if decision.reason:
                    original = decision.original or item.example
                    rejected.write(
                        json.dumps(
                            {
                                "where": item.where,
                                "action": "changed" if decision.kept else "removed",
                                "reason": decision.reason,
                                "detail": decision.detail,
                                "example": preference_json(original)
                                if original.kind == "preference"
                                else chat_json(original),
                            },
                            ensure_ascii=False,
                        )
                        + "\n"
                    )
                if decision.kept:
                    record = preference_json(example) if example.kind == "preference" else chat_json(example)
                    if example.id is not None:
                        record["id"] = example.id
                    kept.write(json.dumps(record, ensure_ascii=False) + "\n")
    tmp_out.replace(out)
    tmp_rejects.replace(rejects)
    return cleaner.summary
