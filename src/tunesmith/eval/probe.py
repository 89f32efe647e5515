"""The forgetting check: general skills, before and after fine-tuning, with intervals that can decide.

Two parts, both asked without a system prompt, on prompts shipped with tunesmith
(``tunesmith.data.general``) that training never sees:

- **labelled**: 362 short questions (arithmetic, geography, science, language,
  knowledge, instruction following) with accepted answers; an answer is right
  when it contains one (case-insensitive, except where case is the point). The
  paired difference fine-tuned minus base is the figure the retention gate reads.
  With 40 questions its 95% interval was about +-0.17 wide, too wide to decide a
  0.1 limit; with 362 it is about +-0.05.
- **agreement** (label-free): 112 open prompts; per prompt, how close the
  fine-tuned model's answer is to the base model's own (exact match when the
  base answer is a few words, else embedding cosine similarity). Where the
  labelled part asks "does it still know?", this asks "does it still answer the
  way it did?", with no labels needed, so a user's own prompts work too.

The base model's answers depend only on its weights: they are generated once and
kept in the user's cache (``models.journal.answers_journal``).
"""

from __future__ import annotations

import re
from typing import Any

from tunesmith.data.general import agreement_prompts, normalize, probe_items
from tunesmith.models.generation import GenerationParams
from tunesmith.models.journal import Journal, generate_journaled

PARAMS = GenerationParams(max_new_tokens=48, temperature=0.0)
SHORT_ANSWER_WORDS = 4  # a base answer this short is compared exactly, not by meaning


def load_probe() -> list[dict[str, Any]]:
    """The labelled probe items."""
    return probe_items()


def correct(output: str, answers: list[str]) -> bool:
    for answer in answers:
        if answer.isupper() and len(answer) > 1:  # the task is about case: match it exactly
            if answer in output:
                return True
        elif re.search(_pattern(answer), output.lower()):
            return True
    return False


def settled(output: str, answers: list[str]) -> bool:
    """Whether ``output`` is correct whatever is written after it: an accepted answer is there and, unless
    matched by case, followed by a character (one still at the end could become "Parisian").

    The probe's answers stop here (`answers(..., items=...)`): a labelled question is scored by containment,
    so what follows cannot change the score. On the quick demo that is 31% of the labelled answers' text.
    """
    # a character cut in half at the end decodes as U+FFFD and says nothing yet
    lowered = output.rstrip("\ufffd").lower()
    for answer in answers:
        if answer.isupper() and len(answer) > 1:
            if answer in output:
                return True
        elif any(m.end() < len(lowered) for m in re.finditer(_pattern(answer), lowered)):
            return True
    return False


def _pattern(answer: str) -> str:
    return rf"(?<!\w){re.escape(answer.lower())}(?!\w)"


def _chats(texts: list[str]) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": t}] for t in texts]


def answers(
    generator: Any,
    adapter: str | None,
    texts: list[str],
    journal: Journal | None = None,
    items: list[dict[str, Any]] | None = None,
) -> list[str]:
    """Greedy answers to ``texts``; through ``journal`` (the base model's cache) when given. With the labelled
    ``items`` of the texts, each answer stops once it is `settled`."""
    until = [lambda text, a=item["answers"]: settled(text, a) for item in items] if items is not None else None
    if journal is not None:
        # answers stopped once settled are journaled apart from whole ones
        step = "general" if items is None else "general-settled"
        entries = generate_journaled(
            generator, _chats(texts), PARAMS, journal, step=step, batch_size=generator.batch_size, until=until
        )
        return [e["text"] for e in entries]
    kwargs: dict[str, Any] = {"adapter": adapter} if adapter is not None else {}
    if until is not None:
        kwargs["until"] = until
    return [g.text for g in generator.generate(_chats(texts), PARAMS, **kwargs)]


def labelled_rows(items: list[dict[str, Any]], outputs: list[str], system: str) -> list[dict[str, Any]]:
    return [
        {
            "part": "labelled",
            "system": system,
            "id": item["id"],
            "skill": item["skill"],
            "question": item["question"],
            "output": out,
            "correct": float(correct(out, item["answers"])),
        }
        for item, out in zip(items, outputs, strict=True)
    ]


def agreement_scores(base: list[str], other: list[str], embedder: Any) -> list[float]:
    """Per prompt, 1.0 / 0.0 for a short base answer matched exactly or not; else cosine similarity (>= 0)."""
    import numpy as np

    scores: list[float | None] = []
    for b, o in zip(base, other, strict=True):
        scores.append(float(normalize(b) == normalize(o)) if len(b.split()) <= SHORT_ANSWER_WORDS else None)
    pending = [i for i, s in enumerate(scores) if s is None]
    if pending:
        vectors = embedder.encode([base[i] for i in pending] + [other[i] for i in pending])
        n = len(pending)
        sims = np.sum(vectors[:n] * vectors[n:], axis=1)
        for i, sim in zip(pending, sims, strict=True):
            scores[i] = max(0.0, float(sim))
    return [float(s) for s in scores]  # type: ignore[arg-type]


def run_probe(
    base: Any,
    finetuned: tuple[Any, str | None] | None,
    *,
    journal: Journal | None,
    embedder: Any,
    interval: Any,
    compare: Any,
) -> dict[str, Any]:
    """Both parts for the base model and (when there is one) the fine-tuned model: the summary and every row."""
    items = load_probe()
    prompts = agreement_prompts()
    questions = [i["question"] for i in items]
    texts = [p["prompt"] for p in prompts]
    base_labelled = answers(base, None, questions, journal, items)
    base_open = answers(base, None, texts, journal)
    rows = labelled_rows(items, base_labelled, "base")
    correct_by: dict[str, list[float]] = {"base": [r["correct"] for r in rows]}
    summary: dict[str, Any] = {"items": len(items), "agreement_items": len(prompts)}
    if finetuned is not None:
        generator, adapter = finetuned
        tuned = labelled_rows(items, answers(generator, adapter, questions, items=items), "finetuned")
        rows += tuned
        correct_by["finetuned"] = [r["correct"] for r in tuned]
        tuned_open = answers(generator, adapter, texts)
        agree = agreement_scores(base_open, tuned_open, embedder)
        rows += [
            {"part": "agreement", "system": "finetuned", "id": p["id"], "prompt": p["prompt"], "base": b, "output": o}
            | {"agreement": round(a, 4)}
            for p, b, o, a in zip(prompts, base_open, tuned_open, agree, strict=True)
        ]
        summary["agreement"] = interval(agree).to_dict()
        summary["finetuned_vs_base"] = compare(
            "finetuned", "base", "general_skills", correct_by["finetuned"], correct_by["base"]
        )
    summary["accuracy"] = {s: interval(v).to_dict() for s, v in correct_by.items()}
    summary["by_skill"] = by_skill(rows)
    return {"summary": summary, "rows": rows}


def by_skill(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Accuracy per skill and system: where a drop comes from."""
    totals: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        if row["part"] == "labelled":
            totals.setdefault(row["skill"], {}).setdefault(row["system"], []).append(row["correct"])
    return {k: {s: round(sum(v) / len(v), 3) for s, v in d.items()} for k, d in totals.items()}
