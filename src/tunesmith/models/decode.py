"""Batched decoding that lets finished rows go.

`model.generate` decodes a batch until its longest answer ends, computing every
finished row at every step. Here a row leaves the batch (its KV cache rows are
dropped) as soon as it ends, so a batch of short answers with a few long ones
costs what its answers cost. Greedy outputs are token-for-token those of
`generate` (tests/unit/test_local_generation.py); on the 362-question retention
probe with the bundled model on 2 CPU cores: 73 s against 104 s for `generate`
(batches of 128 and 64, each its best), the same 362 answers (bench/generate.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tunesmith.core.deps import require


def decode(
    model: Any,
    input_ids: Any,
    attention_mask: Any,
    *,
    max_new_tokens: int,
    eos_ids: set[int],
    temperature: float = 0.0,
    top_p: float = 1.0,
    stopped: Callable[[int, list[int]], bool] | None = None,
) -> list[list[int]]:
    """New token ids per row of a left-padded batch; a row ends at an end token (kept), at ``max_new_tokens``,
    or when ``stopped(row, ids_so_far)`` says so (a stop string)."""
    torch = require("torch")
    transformers = require("transformers")
    rows = int(input_ids.shape[0])
    generated: list[list[int]] = [[] for _ in range(rows)]
    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    cache = transformers.DynamicCache(config=model.config)
    carry = {_cache_argument(model): cache, "use_cache": True}
    with torch.inference_mode():
        out = model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, logits_to_keep=1, **carry
        )
        alive = torch.arange(rows, device=input_ids.device)
        last = positions[:, -1]
        mask = attention_mask
        for step in range(max_new_tokens):
            chosen = _choose(out.logits[:, -1, :], temperature, top_p)
            keep = []
            for i, (row, token) in enumerate(zip(alive.tolist(), chosen.tolist(), strict=True)):
                generated[row].append(token)
                done = token in eos_ids or step + 1 == max_new_tokens
                if not done and stopped is not None and stopped(row, generated[row]):
                    done = True
                if not done:
                    keep.append(i)
            if not keep:
                break
            if len(keep) < len(alive):
                index = torch.tensor(keep, device=input_ids.device)
                cache.batch_select_indices(index)
                alive, chosen, mask, last = alive[index], chosen[index], mask[index], last[index]
            mask = torch.cat([mask, mask.new_ones((len(alive), 1))], dim=1)
            last = last + 1
            out = model(input_ids=chosen[:, None], attention_mask=mask, position_ids=last[:, None], **carry)
    return generated


def _cache_argument(model: Any) -> str:
    """``cache`` in newer transformers releases, ``past_key_values`` before (now a deprecated alias)."""
    import inspect

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(inner.forward).parameters else "past_key_values"


def _choose(logits: Any, temperature: float, top_p: float) -> Any:
    """Greedy at temperature 0; else nucleus sampling (from torch's global generator, seeded by the caller)."""
    torch = require("torch")
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        # keep the smallest set of tokens whose probability reaches top_p (always at least the first)
        outside = sorted_probs.cumsum(-1) - sorted_probs > top_p
        sorted_probs = sorted_probs.masked_fill(outside, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return torch.multinomial(probs / probs.sum(-1, keepdim=True), 1).squeeze(-1)
