"""RAG-aware training examples: each prompt carries the context the server would retrieve for it.

In the spirit of RAFT (Zhang et al., 2024, "RAFT: Adapting Language Model to
Domain Specific RAG"): a model fine-tuned on prompts whose facts were picked
with the answer in hand learns to copy perfect context, then meets the
imperfect context of runtime retrieval and is distracted by it. Here every
chat example is prompted exactly as at runtime:

1. **support** (provenance): the knowledge-base sentences the reply rests on,
   found by retrieving with input and reply and ranking sentences against the
   reply; per reply sentence, which of them supports it;
2. **runtime context**: what the server retrieves from the input alone, with
   the relevance gate applied; the gate's threshold is calibrated here, on the
   validation split, by which inputs' replies rest on the knowledge base at all;
3. for training examples, ``distractors`` points from unrelated chunks are mixed
   in, and for a ``missing_share`` of them the points that support the reply are
   taken out, so the model learns to use good context, ignore bad context, and
   answer from what it knows when retrieval failed;
4. with ``citations``, each reply sentence supported by a point in the prompt
   ends with that point's number (``[2]``), so the model learns to say what it used.

The reply itself is never changed otherwise; every choice is recorded in the
example's ``meta.context`` and the calibration in the data build's manifest.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunesmith.core.progress import task
from tunesmith.data.instruction import user_turn
from tunesmith.data.records import Example, content_text
from tunesmith.knowledge.chunk import split_sentences
from tunesmith.knowledge.embed import remembering
from tunesmith.knowledge.points import Point, PointPicker
from tunesmith.knowledge.rag import RuntimeRag, calibrate_relevance
from tunesmith.knowledge.retrieve import Retriever

_CLOSING_PUNCTUATION = re.compile(r"([.!?]+[\"')\]]*)$")


@dataclass(frozen=True)
class ContextSettings:
    points: int
    retrieve_k: int
    min_point_similarity: float
    distractors: int
    missing_share: float
    points_dropout: float
    citations: bool
    cite_similarity: float
    seed: int


def attach_runtime_context(
    examples: list[tuple[Example, str]], rag: RuntimeRag, settings: ContextSettings
) -> dict[str, Any]:
    """Rewrite each (example, split) chat example's last user turn with its runtime context (in place, with
    citations in the reply when asked); returns the relevance calibration and counts for the manifest."""
    chats = [(e, s) for e, s in examples if _last_turns(e) is not None]
    if not chats:
        return {"examples": 0}
    # the same sentences are embedded to pick support, to retrieve and to cite
    with remembering(rag.picker.embedder), remembering(rag.retriever.embedder):
        return _attach(chats, rag, settings)


def _attach(chats: list[tuple[Example, str]], rag: RuntimeRag, settings: ContextSettings) -> dict[str, Any]:
    # the turns as cleaned (personal data redacted), never the raw input
    turns = [_last_turns(e) for e, _ in chats]
    inputs = [t[0] for t in turns if t is not None]
    replies = [t[1] for t in turns if t is not None]
    with task("Retrieving knowledge as at runtime", len(chats)) as update:
        support = _support(rag.retriever, rag.picker, inputs, replies, settings)
        runtime = rag.retrieve(inputs, gated=False)
        update(len(chats))
    calibration = _calibrate(chats, support, runtime)
    threshold = calibration["threshold"]
    pool = _distractor_pool(rag.retriever, settings)
    counts = {"examples": len(chats), "with_context": 0, "gated_out": 0, "missing": 0, "cited_sentences": 0}
    for (example, split), reply, backing, found in zip(chats, replies, support, runtime, strict=True):
        used = threshold is None or found.relevance >= threshold
        points = list(found.points) if used else []
        rng = random.Random(_seed(settings.seed, example.id or reply))
        choice: dict[str, Any] = {"retrieval_used": used, "relevance": round(found.relevance, 4)}
        if split == "train" and points:
            if rng.random() < settings.points_dropout:
                points, choice["dropped"] = [], True
            else:
                points, choice = _mix(points, backing, pool, rng, settings, choice)
                counts["missing"] += int(choice.get("missing", False))
        if not used:
            counts["gated_out"] += 1
        counts["with_context"] += int(bool(points))
        answer, citations = _cite(reply, points, rag.picker, settings) if settings.citations else (reply, [])
        counts["cited_sentences"] += len(citations)
        _rewrite(example, [p.text for p in points], answer)
        example.meta["points"] = [p.to_dict() for p in points]
        example.meta["support"] = [p.to_dict() for p in backing]
        example.meta["context"] = {**choice, "citations": citations}
    return {"relevance": calibration, **counts, "settings": settings.__dict__}


def _last_turns(example: Example) -> tuple[str, str] | None:
    """(last user turn, final assistant reply) of a chat example that ends with a reply."""
    if example.kind != "chat" or len(example.messages) < 2 or example.messages[-1].get("role") != "assistant":
        return None
    users = [m for m in example.messages if m.get("role") == "user"]
    if not users:
        return None
    return content_text(users[-1]), content_text(example.messages[-1])


def _support(
    retriever: Retriever, picker: PointPicker, inputs: list[str], replies: list[str], settings: ContextSettings
) -> list[list[Point]]:
    """Per reply, the knowledge-base sentences it rests on (retrieved with input and reply, ranked by the reply)."""
    hits = retriever.search_many([f"{i}\n{r}" for i, r in zip(inputs, replies, strict=True)], k=settings.retrieve_k)
    return picker.pick_many(hits, replies, n=settings.points, min_similarity=settings.min_point_similarity)


def _calibrate(chats: list[tuple[Example, str]], support: list[list[Point]], runtime: list[Any]) -> dict[str, Any]:
    """The relevance gate's threshold from the validation split: inputs whose replies rest on the knowledge
    base should retrieve, the others should not. Train and validation together when validation has too few of
    either kind to decide (never the test split)."""

    def sides(splits: tuple[str, ...]) -> tuple[list[float], list[float]]:
        rows = [(s, r.relevance) for (_, split), s, r in zip(chats, support, runtime, strict=True) if split in splits]
        return [v for s, v in rows if s], [v for s, v in rows if not s]

    in_scope, out_of_scope = sides(("val",))
    used = "val"
    if min(len(in_scope), len(out_of_scope)) < 5:
        in_scope, out_of_scope = sides(("train", "val"))
        used = "train+val"
    return {**calibrate_relevance(in_scope, out_of_scope), "calibrated_on": used}


def _distractor_pool(retriever: Retriever, settings: ContextSettings) -> list[Point]:
    """Sentences from the whole knowledge base, to mix into prompts as distractors."""
    if settings.distractors <= 0:
        return []
    chunks = retriever.store.all_chunks()
    out = []
    for chunk in chunks:
        for sentence in split_sentences(chunk.text.replace("\n", " ")):
            if len(sentence.split()) >= 4:
                out.append(Point(sentence.lstrip("-*• ").strip(), 0.0, chunk.id, chunk.doc, chunk.heading))
    return out


def _mix(
    points: list[Point],
    backing: list[Point],
    pool: list[Point],
    rng: random.Random,
    settings: ContextSettings,
    choice: dict[str, Any],
) -> tuple[list[Point], dict[str, Any]]:
    """A training prompt's context: distractors mixed in; for a share, the supporting points taken out."""
    support_chunks = {p.chunk_id for p in backing}
    support_texts = {p.text.lower() for p in backing}
    if backing and rng.random() < settings.missing_share:
        kept = [p for p in points if p.chunk_id not in support_chunks and p.text.lower() not in support_texts]
        choice = {**choice, "missing": True, "removed": len(points) - len(kept)}
        points = kept
    candidates = [
        p for p in pool if p.chunk_id not in support_chunks and p.chunk_id not in {q.chunk_id for q in points}
    ]
    extra = rng.sample(candidates, min(settings.distractors, len(candidates))) if candidates else []
    mixed = points + extra
    rng.shuffle(mixed)
    return mixed, {**choice, "distractors": len(extra)}


def _cite(
    reply: str, points: list[Point], picker: PointPicker, settings: ContextSettings
) -> tuple[str, list[dict[str, Any]]]:
    """The reply with ``[n]`` after each sentence a prompt point supports (its best match at or above
    ``cite_similarity``), and the provenance of each citation."""
    if not points:
        return reply, []
    lines = reply.split("\n")
    sentences = [(li, s) for li, line in enumerate(lines) for s in split_sentences(line) if len(s.split()) >= 4]
    if not sentences:
        return reply, []
    vectors = picker.embedder.encode([s for _, s in sentences] + [p.text for p in points])
    sims = vectors[: len(sentences)] @ vectors[len(sentences) :].T
    citations = []
    for (li, sentence), row in zip(sentences, sims, strict=True):
        best = int(np.argmax(row))
        if row[best] < settings.cite_similarity:
            continue
        marked = _CLOSING_PUNCTUATION.sub(lambda m, n=best + 1: f" [{n}]{m.group(1)}", sentence, count=1)
        if marked == sentence:
            marked = f"{sentence} [{best + 1}]"
        lines[li] = lines[li].replace(sentence, marked, 1)
        citations.append(
            {
                "sentence": sentence,
                "point": best + 1,
                "chunk_id": points[best].chunk_id,
                "similarity": round(float(row[best]), 4),
            }
        )
    return "\n".join(lines), citations


def _rewrite(example: Example, points: list[str], answer: str) -> None:
    messages = [dict(m) for m in example.messages]
    last_user = max(i for i, m in enumerate(messages) if m.get("role") == "user")
    messages[last_user] = {**messages[last_user], "content": user_turn(content_text(messages[last_user]), points)}
    messages[-1] = {**messages[-1], "content": answer}
    example.messages = messages


def _seed(seed: int, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big")
