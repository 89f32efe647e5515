"""The forgetting check: general skills, before and after fine-tuning.

A fine-tune that teaches a company's voice can quietly damage what the model
could already do. The probe set shipped with tunesmith (eval/probes/
general_skills.jsonl, 40 short questions written for it: arithmetic, geography,
science, language, common knowledge, instruction following) is asked of the
base and the fine-tuned model without any system prompt; an answer is right
when it contains an accepted answer (case-insensitive, except where case is the
point). The paired difference shows what the fine-tune cost.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from tunesmith.models.generation import GenerationParams

PARAMS = GenerationParams(max_new_tokens=48, temperature=0.0)


def load_probe(name: str = "general_skills") -> list[dict[str, Any]]:
    text = resources.files("tunesmith.eval.probes").joinpath(f"{name}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def correct(output: str, answers: list[str]) -> bool:
    for answer in answers:
        if answer.isupper() and len(answer) > 1:  # the task is about case: match it exactly
            if answer in output:
                return True
        elif re.search(rf"(?<!\w){re.escape(answer.lower())}(?!\w)", output.lower()):
            return True
    return False


def run_probe(generator: Any, adapter: str | None, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    chats = [[{"role": "user", "content": item["question"]}] for item in items]
    kwargs = {"adapter": adapter} if adapter is not None else {}
    outputs = generator.generate(chats, PARAMS, **kwargs)
    return [
        {
            "id": item["id"],
            "skill": item["skill"],
            "question": item["question"],
            "output": out.text,
            "correct": float(correct(out.text, item["answers"])),
        }
        for item, out in zip(items, outputs, strict=True)
    ]
