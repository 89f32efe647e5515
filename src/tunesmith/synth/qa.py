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
from tunesmith.data.instruction import chat, strip_citations
from tunesmith.knowledge.chunk import Chunk, count_tokens, split_sentences
from tunesmith.knowledge.embed import Embedder
from tunesmith.knowledge.points import PointPicker
from tunesmith.knowledge.retrieve import Hit
from tunesmith.models.generation import GenerationParams, Generator
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
    teacher: Generator,
    journal: Journal,
    system_prompt: str | None,
    points: int,
    existing_inputs: list[str],
    judge: Generator | None = None,
    rejected_model: Generator | None = None,
) -> QAResult:
    """The whole Q&A loop over ``chunks`` (already sampled), in the six steps of the module docstring."""
    result = QAResult()
    items = write_questions(cfg, chunks, teacher, journal, result)
    kept = keep_new_questions(cfg, items, embedder, existing_inputs, result)
    answered = answer_questions(cfg, kept, teacher, journal, system_prompt, result)
    grounded = check_grounding(cfg, answered, embedder, judge or teacher, journal, result)
    result.examples = examples_as_at_runtime(grounded, embedder, system_prompt, points, teacher.name)
    if cfg.preferences != "none" and result.examples:
        rejecter = teacher if cfg.preferences == "no-context" else rejected_model
        assert rejecter is not None
        result.pairs = preference_pairs(cfg, grounded, result.examples, rejecter, journal, system_prompt, result)
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


Item = tuple[Chunk, int, str]  # a chunk, the question's number for it, the question
Answered = tuple[Chunk, int, str, dict[str, Any]]  # ... and the teacher's journal entry with its answer
Grounded = tuple[Chunk, int, str, str, dict[str, Any]]  # ... the answer text and the grounding evidence


def write_questions(
    cfg: QAConfig, chunks: list[Chunk], teacher: Generator, journal: Journal, result: QAResult
) -> list[Item]:
    """1. Questions a customer might ask that each chunk answers."""
    params = GenerationParams(max_new_tokens=40 * cfg.questions_per_chunk + 20)
    chats = [
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
            teacher, chats, params, journal, step="question", batch_size=cfg.batch_size, on_progress=update
        )
    items: list[Item] = []
    for chunk, entry in zip(chunks, written, strict=True):
        questions = parse_questions(entry["text"], cfg.questions_per_chunk)
        if not questions:
            result.rejects.append(
                _reject(chunk, None, "question", "the teacher wrote no usable question", output=entry["text"])
            )
        items.extend((chunk, i, q) for i, q in enumerate(questions))
    return items


def keep_new_questions(
    cfg: QAConfig, items: list[Item], embedder: Embedder, existing_inputs: list[str], result: QAResult
) -> list[Item]:
    """2. Drop questions not about their chunk, and duplicates of existing inputs or earlier questions (by meaning)."""
    if not items:
        return []
    known = existing_inputs
    known_vecs = embedder.encode(known) if known else np.zeros((0, 1), np.float32)
    question_vecs = embedder.encode([q for _, _, q in items])
    chunk_vecs = embedder.encode([c.embed_text for c, _, _ in items])
    accepted: list[int] = []
    kept: list[Item] = []
    for idx, (chunk, i, question) in enumerate(items):
        vec = question_vecs[idx]
        about = float(chunk_vecs[idx] @ vec)
        if about < cfg.min_question_similarity:
            result.rejects.append(_reject(chunk, question, "question", f"not about the chunk (similarity {about:.2f})"))
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
        kept.append((chunk, i, question))
    return kept


def answer_questions(
    cfg: QAConfig, items: list[Item], teacher: Generator, journal: Journal, system_prompt: str | None, result: QAResult
) -> list[Answered]:
    """3. Answers from each question's chunk alone; a chunk that does not answer it, or an answer cut off, is dropped."""
    params = GenerationParams(max_new_tokens=cfg.max_new_tokens)
    chats = [_answer_chat(system_prompt, c, q) for c, _, q in items]
    with task("Grounded answers", len(chats)) as update:
        answers = generate_journaled(
            teacher, chats, params, journal, step="answer", batch_size=cfg.batch_size, on_progress=update
        )
    answered: list[Answered] = []
    for (chunk, i, question), entry in zip(items, answers, strict=True):
        text = entry["text"].strip()
        if not text or "NOT ANSWERED" in text.upper():
            result.rejects.append(_reject(chunk, question, "answer", "the teacher found no answer in the chunk", text))
        elif entry["finish_reason"] == "length":
            result.rejects.append(
                _reject(chunk, question, "answer", f"the answer ran past {cfg.max_new_tokens} tokens", text)
            )
        else:
            answered.append((chunk, i, question, entry))
    return answered


def check_grounding(
    cfg: QAConfig,
    answered: list[Answered],
    embedder: Embedder,
    judge: Generator,
    journal: Journal,
    result: QAResult,
) -> list[Grounded]:
    """4. Keep answers their chunk supports: by embedding similarity, or a judge's YES/NO."""
    if not answered:
        return []
    if cfg.grounding == "embedding":
        scores = grounding_scores([e["text"] for *_, e in answered], [c for c, *_ in answered], embedder)
        verdicts = [(s >= cfg.min_grounding, {"method": "embedding", "score": round(s, 4)}) for s in scores]
    else:
        chats = [
            [{"role": "user", "content": JUDGE_PROMPT.format(text=c.text, answer=strip_citations(e["text"]))}]
            for c, _, _, e in answered
        ]
        with task(f"Judging groundedness ({judge.name})", len(chats)) as update:
            said = generate_journaled(
                judge,
                chats,
                GenerationParams(max_new_tokens=4),
                journal,
                step="judge",
                batch_size=cfg.batch_size,
                on_progress=update,
            )
        verdicts = [
            (s["text"].strip().upper().startswith("YES"), {"method": "judge", "judge": judge.name, "said": s["text"]})
            for s in said
        ]
    grounded: list[Grounded] = []
    for (chunk, i, question, entry), (ok, evidence) in zip(answered, verdicts, strict=True):
        if ok:
            grounded.append((chunk, i, question, entry["text"], evidence))
        else:
            result.rejects.append(
                _reject(chunk, question, "grounding", f"answer not supported by the chunk ({evidence})", entry["text"])
            )
    return grounded


def examples_as_at_runtime(
    grounded: list[Grounded], embedder: Embedder, system_prompt: str | None, points: int, teacher: str
) -> list[dict[str, Any]]:
    """5. Training examples prompted as at runtime: the question plus content points from the chunk."""
    picked = PointPicker(embedder).pick_many(
        [[Hit(c, 1.0, 1, None)] for c, *_ in grounded],
        [q for _, _, q, _, _ in grounded],
        n=points,
        min_similarity=-1.0,
    )
    examples = []
    for (chunk, i, question, answer, evidence), chosen_points in zip(grounded, picked, strict=True):
        messages = chat(system_prompt or None, question, [p.text for p in chosen_points])
        messages.append({"role": "assistant", "content": strip_citations(answer)})
        examples.append(
            {
                "id": f"kbqa-{chunk.id}-{i}",
                "messages": messages,
                "meta": {
                    "input": question,
                    "points": [p.to_dict() for p in chosen_points],
                    "provenance": {
                        "strategy": "kb-qa",
                        "chunks": [Hit(chunk, 1.0, 1, None).citation()],
                        "teacher": teacher,
                        "prompts": ["question", "answer"],
                        "grounding": evidence,
                        "answer_with_citations": answer,
                    },
                },
            }
        )
    return examples


def preference_pairs(
    cfg: QAConfig,
    grounded: list[Grounded],
    examples: list[dict[str, Any]],
    rejecter: Generator,
    journal: Journal,
    system_prompt: str | None,
    result: QAResult,
) -> list[dict[str, Any]]:
    """6. Preference pairs: the grounded answer over one written without the chunk, or by a weaker model."""
    if cfg.preferences == "no-context":
        step = "no_context"
        chats = [
            _system(system_prompt) + [{"role": "user", "content": NO_CONTEXT_PROMPT.format(question=q)}]
            for _, _, q, _, _ in grounded
        ]
    else:
        step = "weaker_answer"
        chats = [_answer_chat(system_prompt, c, q) for c, _, q, _, _ in grounded]
    params = GenerationParams(max_new_tokens=cfg.max_new_tokens)
    with task(f"Rejected answers ({cfg.preferences}, {rejecter.name})", len(chats)) as update:
        rejected = generate_journaled(
            rejecter, chats, params, journal, step=step, batch_size=cfg.batch_size, on_progress=update
        )
    pairs = []
    for example, entry in zip(examples, rejected, strict=True):
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
        pairs.append(
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
    return pairs


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
