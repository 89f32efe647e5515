"""LLM-as-judge: single-answer grading, pairwise comparison with position swapping, groundedness.

Any model behind the generation interface can judge. Pairwise comparisons ask
twice with the answers' positions swapped and count a win only when both orders
agree, which cancels the judge's position bias (Zheng et al. 2023, "Judging
LLM-as-a-judge with MT-Bench and Chatbot Arena", sec. 3.3). Judges decode
greedily so a rerun gives the same verdicts.
"""

from __future__ import annotations

import math
import re
from typing import Any

from tunesmith.knowledge.chunk import split_sentences
from tunesmith.models.generation import GenerationParams, Generator

GRADE = (
    "You are grading a reply written for a customer.\n\nRubric: {rubric}\n\nCustomer message:\n{input}\n\n"
    "Reference reply (what a great answer looks like):\n{reference}\n\nReply to grade:\n{output}\n\n"
    "Give a score from 1 (useless) to 10 (as good as the reference). Answer with 'Score: N' and nothing else."
)
PAIR = (
    "You are comparing two replies to the same customer message.\n\nRubric: {rubric}\n\nCustomer message:\n{input}\n\n"
    "Reply A:\n{a}\n\nReply B:\n{b}\n\nWhich reply is better? Answer with exactly 'A', 'B' or 'tie'."
)
SUPPORT = (
    "Context:\n{context}\n\nStatement: {statement}\n\nIs the statement supported by the context? "
    "Answer with exactly 'yes' or 'no'."
)
_SCORE = re.compile(r"(?:score\s*[:=]?\s*)?\b(10|[1-9])\b", re.IGNORECASE)
PARAMS = GenerationParams(max_new_tokens=8, temperature=0.0)


def _ask(judge: Generator, prompts: list[str]) -> list[str]:
    return [g.text.strip() for g in judge.generate([[{"role": "user", "content": p}] for p in prompts], PARAMS)]


def judge_scores(
    judge: Generator, inputs: list[str], outputs: list[str], references: list[str], rubric: str
) -> list[float]:
    """Single-answer grades, 1..10 mapped to 0..1; nan when the judge's answer has no number."""
    prompts = [
        GRADE.format(rubric=rubric, input=i, reference=r, output=o)
        for i, o, r in zip(inputs, outputs, references, strict=True)
    ]
    scores = []
    for text in _ask(judge, prompts):
        match = _SCORE.search(text)
        scores.append((int(match.group(1)) - 1) / 9 if match else math.nan)
    return scores


def _verdict(text: str) -> str:
    head = text.strip().lower()
    if head.startswith("tie"):
        return "tie"
    if head[:1] in ("a", "b"):
        return head[:1]
    return "?"


def judge_pairwise(
    judge: Generator, inputs: list[str], system: list[str], other: list[str], rubric: str
) -> list[float]:
    """Per example: 1 when ``system`` wins in both orders, 0 when ``other`` does, 0.5 otherwise."""
    first = [PAIR.format(rubric=rubric, input=i, a=s, b=o) for i, s, o in zip(inputs, system, other, strict=True)]
    second = [PAIR.format(rubric=rubric, input=i, a=o, b=s) for i, s, o in zip(inputs, system, other, strict=True)]
    verdicts = _ask(judge, first + second)
    n = len(inputs)
    out = []
    for v1, v2 in zip(verdicts[:n], verdicts[n:], strict=True):
        a, b = _verdict(v1), _verdict(v2)
        if a == "a" and b == "b":
            out.append(1.0)
        elif a == "b" and b == "a":
            out.append(0.0)
        else:
            out.append(0.5)  # a tie, or the judge changed its mind when the order changed
    return out


def judge_groundedness(judge: Generator, outputs: list[str], contexts: list[list[str]]) -> list[float]:
    """Share of each answer's sentences the judge finds supported by its context; nan without context."""
    prompts, owners = [], []
    for index, (output, context) in enumerate(zip(outputs, contexts, strict=True)):
        if not context:
            continue
        for sentence in split_sentences(output.replace("\n", " ")):
            if len(sentence.split()) >= 5:
                prompts.append(SUPPORT.format(context="\n".join(f"- {c}" for c in context), statement=sentence))
                owners.append(index)
    answers = _ask(judge, prompts) if prompts else []
    supported: dict[int, list[bool]] = {}
    for owner, answer in zip(owners, answers, strict=True):
        supported.setdefault(owner, []).append(answer.lower().startswith("yes"))
    return [sum(supported[i]) / len(supported[i]) if i in supported else math.nan for i in range(len(outputs))]


class JudgeScore:
    """The judge's 1-10 grade against the rubric and reference, mapped to 0..1. Higher is better."""

    name = "judge_score"
    description = "LLM judge grade (rubric + reference), 0..1"
    low, high, higher_is_better = 0.0, 1.0, True

    def score(self, outputs: list[str], references: list[str], ctx: Any) -> list[float]:
        from tunesmith.core.errors import ConfigError

        if ctx.judge is None:
            raise ConfigError(
                "the judge_score metric needs a judge model",
                where="eval.judge",
                fix="Set eval.judge to a local model or an endpoint.",
            )
        return judge_scores(ctx.judge, ctx.inputs, outputs, references, ctx.rubric)
