"""Retrieval at runtime: from a user's input to the content points put into its prompt."""

from __future__ import annotations

from pathlib import Path

from tunesmith.knowledge.config import KnowledgeConfig
from tunesmith.knowledge.points import Point, PointPicker
from tunesmith.knowledge.retrieve import Retriever


class RuntimeRag:
    """The same retrieval for the baseline, the evaluation grid and the server."""

    def __init__(self, retriever: Retriever, *, top_k: int, points: int, min_similarity: float) -> None:
        self.retriever = retriever
        self.picker = PointPicker(retriever.embedder)
        self.top_k = top_k
        self.points = points
        self.min_similarity = min_similarity

    @classmethod
    def open(cls, cfg: KnowledgeConfig, project_dir: Path, name: str | None = None) -> RuntimeRag:
        return cls(
            Retriever.open(cfg, project_dir, name),
            top_k=cfg.top_k,
            points=cfg.points,
            min_similarity=cfg.min_similarity,
        )

    def points_for(self, inputs: list[str]) -> list[list[Point]]:
        hits = self.retriever.search_many(inputs, k=self.top_k)
        return self.picker.pick_many(hits, inputs, n=self.points, min_similarity=self.min_similarity)
