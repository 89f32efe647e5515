"""Preference pairs from golden outputs: the company's answer preferred over the base model's.

The rejected side is what the model would say without fine-tuning, to the
exact same prompt, so a preference optimizer learns precisely the difference
the company cares about (its facts and voice). This is the on-policy pairing
of self-play fine-tuning (Chen et al. 2024, SPIN) in its first iteration.
"""

from __future__ import annotations

from typing import Any

from tunesmith.models.generation import GenerationParams


def base_model_pairs(
    records: list[dict[str, Any]], generator: Any, *, max_new_tokens: int, on_progress: Any = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(pairs in OpenAI's DPO format, skipped records with reasons)."""
    prompts = [r["messages"][:-1] for r in records]
    outputs = generator.generate(prompts, GenerationParams(max_new_tokens=max_new_tokens), on_progress=on_progress)
    pairs, skipped = [], []
    for record, prompt, output in zip(records, prompts, outputs, strict=True):
        chosen = record["messages"][-1]["content"]
        if not output.text.strip() or output.text.strip() == chosen.strip():
            skipped.append({"id": record.get("id"), "reason": "the base model's answer is empty or the golden one"})
            continue
        pairs.append(
            {
                "id": record.get("id"),
                "input": {"messages": prompt},
                "preferred_output": [{"role": "assistant", "content": chosen}],
                "non_preferred_output": [{"role": "assistant", "content": output.text}],
                "meta": {
                    "split": record["meta"]["split"],
                    "strategy": "base-model",
                    "rejected_by": generator.name,
                    "rejected_finish": output.finish_reason,
                },
            }
        )
    return pairs, skipped
