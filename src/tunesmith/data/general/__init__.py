"""General prompt sets shipped with tunesmith, and the check that keeps them apart.

- ``probe.jsonl``: the labelled retention probe (questions with accepted answers);
- ``agreement.jsonl``: held-out open prompts for the probe's label-free part (the fine-tuned model's
  answers compared with the base model's own);
- ``replay.jsonl``: prompts whose base-model answers are mixed into training (``train.replay``).

A replay prompt that is an exact or near duplicate of a probe or agreement prompt would let training see
the test, so the retention figures would flatter the fine-tune: ``check_disjoint`` finds them, the test
suite runs it on the shipped sets, and training drops (and lists) any of a user's own replay prompts
that fail it. ``tools/build_general_sets.py`` writes the shipped sets.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from tunesmith.core.errors import DataError

# character 4-grams of normalized text: short prompts share few word 5-grams, so word shingles miss
# "Translate 'good morning' into Spanish." against "Translate 'good night' into Spanish."
NEAR_THRESHOLD = 0.5
_WORDS = re.compile(r"[a-z0-9]+")


def normalize(text: str) -> str:
    return " ".join(_WORDS.findall(text.lower()))


def char_shingles(text: str, n: int = 4) -> list[str]:
    norm = normalize(text)
    return [norm[i : i + n] for i in range(max(1, len(norm) - n + 1))]


def _read_shipped(name: str) -> list[dict[str, Any]]:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def probe_items() -> list[dict[str, Any]]:
    """The labelled probe: ``{"id", "skill", "question", "answers"}``."""
    return _read_shipped("probe.jsonl")


def agreement_prompts() -> list[dict[str, Any]]:
    """Held-out open prompts for the label-free part: ``{"id", "prompt"}``."""
    return _read_shipped("agreement.jsonl")


def replay_prompts(path: Path | None = None) -> list[dict[str, Any]]:
    """The replay prompts: the shipped set, or a user's file (JSONL with `prompt`, or one prompt per line)."""
    if path is None:
        return _read_shipped("replay.jsonl")
    if not path.is_file():
        raise DataError("replay prompt file not found", where=str(path), fix="Fix train.replay.prompts.")
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        if path.suffix in (".jsonl", ".json"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"not valid JSON ({exc.msg})", where=f"{path}:{number}", fix='Each line: {"prompt": "..."}.'
                ) from None
            prompt = value.get("prompt") if isinstance(value, dict) else None
            if not isinstance(prompt, str) or not prompt.strip():
                raise DataError(
                    "missing the 'prompt' text", where=f"{path}:{number}", fix='Each line: {"prompt": "..."}.'
                )
            rows.append({"id": str(value.get("id") or f"{path.name}:{number}"), "prompt": prompt.strip()})
        else:
            rows.append({"id": f"{path.name}:{number}", "prompt": line.strip()})
    if not rows:
        raise DataError("the replay prompt file is empty", where=str(path), fix="Add one prompt per line.")
    return rows


def held_out_texts() -> list[tuple[str, str]]:
    """(id, text) of every prompt the retention measurement asks: training must never see these."""
    return [(r["id"], r["question"]) for r in probe_items()] + [(r["id"], r["prompt"]) for r in agreement_prompts()]


@dataclass(frozen=True)
class Overlap:
    id: str
    prompt: str
    held_out_id: str
    similarity: float  # 1.0 for an exact match after normalization


def check_disjoint(
    prompts: list[dict[str, Any]], held_out: list[tuple[str, str]], *, threshold: float = NEAR_THRESHOLD
) -> list[Overlap]:
    """Every prompt that is an exact or near duplicate (character 4-gram Jaccard >= threshold) of a held-out one."""
    from tunesmith.data.near_dup import NearDuplicateIndex

    exact = {normalize(text): key for key, text in held_out}
    index = NearDuplicateIndex(threshold, shingle=char_shingles)
    for key, text in held_out:
        index.add(key, text)
    found = []
    for row in prompts:
        text = str(row["prompt"])
        if normalize(text) in exact:
            found.append(Overlap(str(row["id"]), text, exact[normalize(text)], 1.0))
            continue
        match = index.find(text)
        if match is not None:
            found.append(Overlap(str(row["id"]), text, match[0], round(match[1], 3)))
    return found
