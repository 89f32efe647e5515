"""Token statistics with the target model's tokenizer: what training will actually see."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tunesmith.data.template import tokenize_turns


@dataclass
class TokenStats:
    examples: int = 0
    lengths: list[int] = field(default_factory=list)
    trained: list[int] = field(default_factory=list)

    def add(self, tokenizer: Any, messages: list[dict[str, Any]], tools: list[Any] | None = None) -> None:
        self.examples += 1
        for tokenized in tokenize_turns(tokenizer, messages, tools):  # the sequences training will see
            self.lengths.append(len(tokenized.input_ids))
            self.trained.append(tokenized.trained_tokens)

    def to_dict(self) -> dict[str, Any]:
        if not self.lengths:
            return {"examples": 0}
        ordered = sorted(self.lengths)

        def pct(p: float) -> int:
            return ordered[min(len(ordered) - 1, int(p * (len(ordered) - 1) + 0.5))]

        return {
            "examples": self.examples,
            # where a template trains a conversation's turns as sequences of their own, more than examples
            **({"sequences": len(self.lengths)} if len(self.lengths) != self.examples else {}),
            "total_tokens": sum(self.lengths),
            "trained_tokens": sum(self.trained),
            "mean": round(statistics.fmean(self.lengths), 1),
            "p50": pct(0.5),
            "p90": pct(0.9),
            "p99": pct(0.99),
            "max": ordered[-1],
            "min": ordered[0],
        }


def equal_bins(values: Iterable[int], *, count: int = 12) -> list[tuple[int, int, int]]:
    """Equal-width integer bins over the values' range: (low, high, count) rows, empty bins included."""
    data = list(values)
    if not data:
        return []
    low, high = min(data), max(data)
    step = max(1, -(-(high - low + 1) // count))
    counts = [0] * count
    for v in data:
        counts[min(count - 1, (v - low) // step)] += 1
    return [(low + i * step, low + (i + 1) * step - 1, c) for i, c in enumerate(counts) if low + i * step <= high]


def histogram(values: Iterable[int], *, bins: int = 12, width: int = 40) -> list[tuple[str, int, str]]:
    """(range label, count, bar) rows for a text histogram."""
    rows = equal_bins(values, count=bins)
    peak = max((c for _, _, c in rows), default=0) or 1
    return [(f"{lo}-{hi}", c, "█" * round(c / peak * width)) for lo, hi, c in rows]
