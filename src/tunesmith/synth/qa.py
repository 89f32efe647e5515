"""Knowledge-base Q&A: a teacher writes questions from chunks and answers grounded in them.

For each sampled chunk the teacher writes questions a customer might ask, then
answers each from the chunk alone, citing it. An answer that the chunk does not
support is dropped (embedding check, or a judge model), and so is a question
that duplicates one the data already has. Each kept answer becomes a training
example prompted exactly as at runtime (question + content points from the
chunk), and, for DPO, a preference pair whose rejected side is the answer
written without the chunk (or by a weaker model).

Every generation goes through the journal, so a killed run resumes where it
stopped; every planned item ends either as an example or as a reject with its
reason.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunesmith.core.progress import task
from tunesmith.data.instruction import chat
from tunesmith.knowledge.chunk import Chunk, count_tokens, split_sentences
from tunesmith.knowledge.embed import Embedder
from tunesmith.knowledge.points import PointPicker
from tunesmith.knowledge.retrieve import Hit
from tunesmith.models.generation import GenerationParams
from tunesmith.models.journal import Journal, generate_journaled
from tunesmith.synth.config import QAConfig

QUESTION_PROMPT = (
    "Below is an excerpt from a company's knowledge base.\n\n[{source} > {heading}]\n{text}\n\n"
    "Write {n} different question(s) that a customer might send and that this excerpt answers. Write each "
    "question on its own line, in the customer's words, ending with a question mark. Write nothing else."
)
ANSWER_PROMPT = (
    "Answer the customer's question using only the knowledge-base excerpt below, and cite it as [1] after the "
    "facts you take from it. If the excerpt does not answer the question, reply exactly: NOT ANSWERED.\n\n"
    "Excerpt [1] ({source} > {heading}):\n{text}\n\nQuestion: {question}"
)
NO_CONTEXT_PROMPT = "Answer the customer's question.\n\nQuestion: {question}"
JUDGE_PROMPT = (
    "Context:\n{text}\n\nAnswer:\n{answer}\n\n"
    "Is every factual claim in the answer supported by the context? Reply with YES or NO only."
)
PROMPTS = {"question": QUESTION_PROMPT, "answer": ANSWER_PROMPT, "no_context": NO_CONTEXT_PROMPT, "judge": JUDGE_PROMPT}

_NUMBERING = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)]|q\d*[:.]|question\s*\d*[:.])\s*", re.IGNORECASE)
_CITATION = re.compile(r"\s*\[\d+\]")


def parse_questions(text: str, n: int) -> list[str]:
    """Up to ``n`` distinct questions: lines ending in '?', numbering stripped, at least four words."""
    out: list[str] = []
    for line in text.splitlines():
        question = _NUMBERING.sub("", line).strip().strip('"').strip()
        if question.endswith("?") and len(question.split()) >= 4 and question.lower() not in map(str.lower, out):
            out.append(question)
        if len(out) == n:
            break
    return out


def strip_citations(text: str) -> str:
    return _CITATION.sub("", text).strip()


def grounding_scores(answers: list[str], chunks: list[Chunk], embedder: Embedder) -> list[float]:
    """Per answer: the mean, over its sentences, of the best cosine similarity to a sentence of its chunk."""
    answer_sents = [split_sentences(strip_citations(a).replace("\n", " ")) or [""] for a in answers]
    chunk_sents = [split_sentences(c.text.replace("\n", " ")) or [c.text] for c in chunks]
    flat = [s for group in answer_sents + chunk_sents for s in group]
    vectors = embedder.encode(flat)
    offset = 0
    answer_vecs, chunk_vecs = [], []
    for group in answer_sents:
        answer_vecs.append(vectors[offset : offset + len(group)])
        offset += len(group)
    for group in chunk_sents:
        chunk_vecs.append(vectors[offset : offset + len(group)])
        offset += len(group)
    return [float((a @ c.T).max(axis=1).mean()) for a, c in zip(answer_vecs, chunk_vecs, strict=True)]


@dataclass
class QAResult:
    examples: list[dict[str, Any]] = field(default_factory=list)  # OpenAI chat records with id and meta
    pairs: list[dict[str, Any]] = field(default_factory=list)  # OpenAI preference records, by example id
    rejects: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


def sample_chunks(chunks: list[Chunk], cfg: QAConfig) -> list[Chunk]:
    usable = sorted((c for c in chunks if count_tokens(c.text) >= cfg.min_words), key=lambda c: c.id)
    if cfg.chunks and len(usable) > cfg.chunks:
        usable = sorted(random.Random(cfg.seed).sample(usable, cfg.chunks), key=lambda c: (c.doc, c.start))
    return usable


def synthesize(
    cfg: QAConfig,
    *,
    chunks: list[Chunk],
    embedder: Embedder,
    teacher: Any,
    journal: Journal,
    system_prompt: str | None,
    points: int,
    existing_inputs: list[str],
    judge: Any = None,
    rejected_model: Any = None,
) -> QAResult:
    """The whole Q&A loop over ``chunks`` (already sampled); see the module docstring."""
    result = QAResult()
    batch = cfg.batch_size

    # 1. questions
    question_params = GenerationParams(max_new_tokens=40 * cfg.questions_per_chunk + 20)
    question_chats = [
        [
            {
                "role": "user",
                "content": QUESTION_PROMPT.format(
                    source=c.doc, heading=c.heading, text=c.text, n=cfg.questions_per_chunk
                ),
            }
        ]
        for c in chunks
    ]
    with task(f"Questions from {len(chunks)} chunks ({teacher.name})", len(chunks)) as update:
        written = generate_journaled(
            teacher, question_chats, question_params, journal, step="question", batch_size=batch, on_progress=update
        )
    items: list[tuple[Chunk, int, str]] = []
    for chunk, entry in zip(chunks, written, strict=True):
        questions = parse_questions(entry["text"], cfg.questions_per_chunk)
        if not questions:
            result.rejects.append(
                _reject(chunk, None, "question", "the teacher wrote no usable question", output=entry["text"])
            )
        items.extend((chunk, i, q) for i, q in enumerate(questions))

    # 2. questions not about their chunk, and duplicates of existing inputs or earlier questions (by meaning)
    kept_items: list[tuple[Chunk, int, str]] = []
    if items:
        known = existing_inputs
        known_vecs = embedder.encode(known) if known else np.zeros((0, 1), np.float32)
        question_vecs = embedder.encode([q for _, _, q in items])
        chunk_vecs = embedder.encode([c.embed_text for c, _, _ in items])
        accepted: list[int] = []
        for idx, (chunk, i, question) in enumerate(items):
            vec = question_vecs[idx]
            about = float(chunk_vecs[idx] @ vec)
            if about < cfg.min_question_similarity:
                result.rejects.append(
                    _reject(chunk, question, "question", f"not about the chunk (similarity {about:.2f})")
                )
                continue
            if len(known):
                sims = known_vecs @ vec
                best = int(np.argmax(sims))
                if sims[best] >= cfg.duplicate_similarity:
                    result.rejects.append(
                        _reject(chunk, question, "dedup", f"duplicates an existing input: {known[best][:80]!r}")
                    )
                    continue
            if accepted:
                sims = question_vecs[accepted] @ vec
                best = int(np.argmax(sims))
                if sims[best] >= cfg.duplicate_similarity:
                    result.rejects.append(
                        _reject(chunk, question, "dedup", f"duplicates question {items[accepted[best]][2]!r}")
                    )
                    continue
            accepted.append(idx)
            kept_items.append((chunk, i, question))

    # 3. grounded answers
    answer_params = GenerationParams(max_new_tokens=cfg.max_new_tokens)
    answer_chats = [_answer_chat(system_prompt, c, q) for c, _, q in kept_items]
    with task("Grounded answers", len(answer_chats)) as update:
        answers = generate_journaled(
            teacher, answer_chats, answer_params, journal, step="answer", batch_size=batch, on_progress=update
        )
    candidates: list[tuple[Chunk, int, str, dict[str, Any]]] = []
    for (chunk, i, question), entry in zip(kept_items, answers, strict=True):
        text = entry["text"].strip()
        if not text or "NOT ANSWERED" in text.upper():
            result.rejects.append(_reject(chunk, question, "answer", "the teacher found no answer in the chunk", text))
        elif entry["finish_reason"] == "length":
            result.rejects.append(
                _reject(chunk, question, "answer", f"the answer ran past {cfg.max_new_tokens} tokens", text)
            )
        else:
            candidates.append((chunk, i, question, entry))

    # 4. groundedness
    grounded: list[tuple[Chunk, int, str, str, dict[str, Any]]] = []
    if candidates:
        if cfg.grounding == "embedding":
            scores = grounding_scores([e["text"] for *_, e in candidates], [c for c, *_ in candidates], embedder)
            verdicts = [(s >= cfg.min_grounding, {"method": "embedding", "score": round(s, 4)}) for s in scores]
        else:
            judge = judge or teacher
            judge_chats = [
                [{"role": "user", "content": JUDGE_PROMPT.format(text=c.text, answer=strip_citations(e["text"]))}]
                for c, _, _, e in candidates
            ]
            with task(f"Judging groundedness ({judge.name})", len(judge_chats)) as update:
                said = generate_journaled(
                    judge,
                    judge_chats,
                    GenerationParams(max_new_tokens=4),
                    journal,
                    step="judge",
                    batch_size=batch,
                    on_progress=update,
                )
            verdicts = [
                (
                    s["text"].strip().upper().startswith("YES"),
                    {"method": "judge", "judge": judge.name, "said": s["text"]},
                )
                for s in said
            ]
        for (chunk, i, question, entry), (ok, evidence) in zip(candidates, verdicts, strict=True):
            if ok:
                grounded.append((chunk, i, question, entry["text"], evidence))
            else:
                result.rejects.append(
                    _reject(
                        chunk, question, "grounding", f"answer not supported by the chunk ({evidence})", entry["text"]
                    )
                )

    # 5. examples, prompted as at runtime: the question plus content points from the chunk
    picker = PointPicker(embedder)
    picked = picker.pick_many(
        [[Hit(c, 1.0, 1, None)] for c, *_ in grounded],
        [q for _, _, q, _, _ in grounded],
        n=points,
        min_similarity=-1.0,
    )
    for (chunk, i, question, answer, evidence), chosen_points in zip(grounded, picked, strict=True):
        messages = chat(system_prompt or None, question, [p.text for p in chosen_points])
        messages.append({"role": "assistant", "content": strip_citations(answer)})
        result.examples.append(
            {
                "id": f"kbqa-{chunk.id}-{i}",
                "messages": messages,
                "meta": {
                    "input": question,
                    "points": [p.to_dict() for p in chosen_points],
                    "provenance": {
                        "strategy": "kb-qa",
                        "chunks": [Hit(chunk, 1.0, 1, None).citation()],
                        "teacher": teacher.name,
                        "prompts": ["question", "answer"],
                        "grounding": evidence,
                        "answer_with_citations": answer,
                    },
                },
            }
        )

    # 6. preference pairs
    if cfg.preferences != "none" and result.examples:
        if cfg.preferences == "no-context":
            rejecter, step = teacher, "no_context"
            rejected_chats = [
                _system(system_prompt) + [{"role": "user", "content": NO_CONTEXT_PROMPT.format(question=q)}]
                for _, _, q, _, _ in grounded
            ]
        else:
            rejecter, step = rejected_model, "weaker_answer"
            rejected_chats = [_answer_chat(system_prompt, c, q) for c, _, q, _, _ in grounded]
        with task(f"Rejected answers ({cfg.preferences}, {rejecter.name})", len(rejected_chats)) as update:
            rejected = generate_journaled(
                rejecter, rejected_chats, answer_params, journal, step=step, batch_size=batch, on_progress=update
            )
        for example, entry in zip(result.examples, rejected, strict=True):
            chosen = example["messages"][-1]["content"]
            worse = strip_citations(entry["text"])
            if not worse or worse == chosen:
                result.rejects.append(
                    {
                        "stage": "preferences",
                        "action": "skipped",
                        "id": example["id"],
                        "reason": "the rejected answer is empty or the same as the chosen one",
                    }
                )
                continue
            result.pairs.append(
                {
                    "id": example["id"],
                    "input": {"messages": example["messages"][:-1]},
                    "preferred_output": [{"role": "assistant", "content": chosen}],
                    "non_preferred_output": [{"role": "assistant", "content": worse}],
                    "meta": {
                        "strategy": f"kb-qa/{cfg.preferences}",
                        "rejected_by": rejecter.name,
                        "rejected_finish": entry["finish_reason"],
                        "chunk": example["meta"]["provenance"]["chunks"][0],
                    },
                }
            )

    result.stats = {
        "chunks": len(chunks),
        "questions": len(items),
        "examples": len(result.examples),
        "preference_pairs": len(result.pairs),
        "rejected": _count(result.rejects),
        "journal_entries": len(journal),
        "journal_resumed": journal.resumed,
    }
    return result


def _system(system_prompt: str | None) -> list[dict[str, str]]:
    return [{"role": "system", "content": system_prompt}] if system_prompt else []


def _answer_chat(system_prompt: str | None, chunk: Chunk, question: str) -> list[dict[str, str]]:
    prompt = ANSWER_PROMPT.format(source=chunk.doc, heading=chunk.heading, text=chunk.text, question=question)
    return _system(system_prompt) + [{"role": "user", "content": prompt}]


def _reject(chunk: Chunk, question: str | None, stage: str, reason: str, output: str | None = None) -> dict[str, Any]:
    return {
        "stage": f"kb-qa/{stage}",
        # not an input row: a generation that did not become one (so it is not in the row accounting)
        "action": "not-generated",
        "where": f"{chunk.doc} > {chunk.heading} ({chunk.id})",
        "reason": reason,
        "question": question,
        "output": output,
    }


def _count(rejects: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rejects:
        counts[r["stage"]] = counts.get(r["stage"], 0) + 1
    return counts


def run_qa(
    cfg: QAConfig,
    *,
    knowledge: Any,
    system_prompt: str | None,
    base_model: Any,
    project_dir: Any,
    journal: Journal,
    existing_inputs: list[str],
) -> QAResult:
    """Index the knowledge base, load the models the config names, and synthesize."""
    from tunesmith.knowledge.embed import load_embedder
    from tunesmith.knowledge.ingest import ingest
    from tunesmith.knowledge.store import open_store
    from tunesmith.models.loader import load_generator

    ingest(knowledge, project_dir)
    store = open_store(knowledge, project_dir)
    chunks = sample_chunks(store.all_chunks(), cfg)
    teacher = load_generator(cfg.teacher or base_model, project_dir)
    judge = load_generator(cfg.judge, project_dir) if cfg.grounding == "judge" and cfg.judge else None
    rejected_model = None
    if cfg.preferences == "weaker-model":
        if cfg.rejected_model is None:
            from tunesmith.core.errors import ConfigError

            raise ConfigError(
                "preferences: weaker-model needs a rejected_model",
                where="data.kb_qa.rejected_model",
                fix="Name the weaker model, or use preferences: no-context.",
            )
        rejected_model = load_generator(cfg.rejected_model, project_dir)
    return synthesize(
        cfg,
        chunks=chunks,
        embedder=load_embedder(store.manifest()["settings"]["embedder"]),
        teacher=teacher,
        journal=journal,
        system_prompt=system_prompt,
        points=knowledge.points,
        existing_inputs=existing_inputs,
        judge=judge,
        rejected_model=rejected_model,
    )
