"""Retrieval at runtime: from a user's input to the content points put into its prompt, or none.

The same code grounds the baseline, the evaluation grid, the gate and the server. Retrieval is skipped when
nothing retrieved is relevant to the input (its best sentence's similarity stays under ``min_relevance``):
"write me a poem" is then answered without policy text, as the model was trained to. The threshold is
calibrated on the data build's validation split (`calibrate_relevance`) and recorded in its manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.knowledge.config import KnowledgeConfig
from tunesmith.knowledge.points import Point, PointPicker
from tunesmith.knowledge.retrieve import Retriever


@dataclass
class Retrieved:
    """What retrieval put into one prompt, and why: ``used`` is False when it stayed silent."""

    points: list[Point]
    relevance: float
    used: bool

    def extension(self, threshold: float | None) -> dict[str, Any]:
        """How a response reports it (the server's `tunesmith` field, the evaluation's rows)."""
        return {
            "retrieval_used": self.used,
            "relevance": round(self.relevance, 4),
            "relevance_threshold": threshold,
        }


class RuntimeRag:
    """The same retrieval for the baseline, the evaluation grid, the gate and the server."""

    def __init__(
        self,
        retriever: Retriever,
        *,
        top_k: int,
        points: int,
        min_similarity: float,
        min_relevance: float | None = None,
    ) -> None:
        self.retriever = retriever
        self.picker = PointPicker(retriever.embedder)
        self.top_k = top_k
        self.points = points
        self.min_similarity = min_similarity
        self.min_relevance = min_relevance

    @classmethod
    def open(
        cls, cfg: KnowledgeConfig, project_dir: Path, name: str | None = None, *, min_relevance: float | None = None
    ) -> RuntimeRag:
        return cls(
            Retriever.open(cfg, project_dir, name),
            top_k=cfg.top_k,
            points=cfg.points,
            min_similarity=cfg.min_similarity,
            min_relevance=min_relevance,
        )

    def retrieve(self, inputs: list[str], *, gated: bool = True) -> list[Retrieved]:
        """Points per input; none where the best retrieved sentence is less relevant than ``min_relevance``."""
        hits = self.retriever.search_many(inputs, k=self.top_k)
        picked = self.picker.pick_scored(hits, inputs, n=self.points, min_similarity=self.min_similarity)
        out = []
        for points, relevance in picked:
            used = not (gated and self.min_relevance is not None and relevance < self.min_relevance)
            out.append(Retrieved(points if used else [], relevance, used and bool(points)))
        return out

    def points_for(self, inputs: list[str]) -> list[list[Point]]:
        return [r.points for r in self.retrieve(inputs)]


def relevance_threshold(setting: float | str | None, manifest: dict[str, Any] | None) -> float | None:
    """The gate's threshold for ``knowledge.relevance``: a number as given, `auto` as the data build calibrated
    it (in its manifest), None to always retrieve."""
    if setting is None:
        return None
    if setting != "auto":
        return float(setting)
    return ((manifest or {}).get("relevance") or {}).get("threshold")


def calibrate_relevance(in_scope: list[float], out_of_scope: list[float], *, keep: float = 0.9) -> dict[str, Any]:
    """The relevance threshold from inputs whose answers rest on the knowledge base (``in_scope``) and inputs
    whose answers do not: it keeps retrieval for at least ``keep`` of the first, and skips it for as many of
    the others as that allows (ties go to the lower threshold). Skipping a fact an answer needs costs more than
    showing a few irrelevant ones, hence a recall floor rather than balanced accuracy.

    Returns the threshold (None when either side is empty: nothing to calibrate on) and how it does.
    """
    if not in_scope or not out_of_scope:
        return {"threshold": None, "in_scope": len(in_scope), "out_of_scope": len(out_of_scope)}
    values = sorted(set(in_scope) | set(out_of_scope))
    candidates = [values[0] - 1e-6] + [(a + b) / 2 for a, b in zip(values, values[1:], strict=False)]

    def kept(t: float) -> float:
        return sum(v >= t for v in in_scope) / len(in_scope)

    def skipped(t: float) -> float:
        return sum(v < t for v in out_of_scope) / len(out_of_scope)

    allowed = [t for t in candidates if kept(round(t, 4)) >= keep]
    threshold = round(max(allowed, key=lambda t: (skipped(round(t, 4)), -t)), 4)
    return {
        "threshold": threshold,
        "keep_in_scope": keep,
        "kept_in_scope": round(kept(threshold), 4),
        "skipped_out_of_scope": round(skipped(threshold), 4),
        "balanced_accuracy": round((kept(threshold) + skipped(threshold)) / 2, 4),
        "in_scope": len(in_scope),
        "out_of_scope": len(out_of_scope),
    }
