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

from collections import deque
from collections.abc import Callable
from typing import Any

from tunesmith.core import cpu
from tunesmith.core.deps import require
from tunesmith.models import cascade, kvcache
from tunesmith.models.batch import RunningBatch, left_padded
from tunesmith.models.skinny_linear import skinny_linears


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
    plain_cache: bool = False,
) -> list[list[int]]:
    """New token ids per row of a left-padded batch; a row ends at an end token (kept), at ``max_new_tokens``,
    or when ``stopped(row, ids_so_far)`` says so (a stop string)."""
    torch = require("torch")
    transformers = require("transformers")
    rows = int(input_ids.shape[0])
    generated: list[list[int]] = [[] for _ in range(rows)]
    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    cache = transformers.DynamicCache(config=model.config) if plain_cache else kvcache.new_cache(model)
    carry = {_cache_argument(model): cache, "use_cache": True}
    with torch.inference_mode(), skinny_linears(model):
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


def decode_continuous(
    model: Any,
    prompts: list[list[int]],
    *,
    pad_id: int,
    max_new_tokens: int,
    eos_ids: set[int],
    temperature: float = 0.0,
    top_p: float = 1.0,
    stopped: Callable[[int, list[int]], bool] | None = None,
    max_rows: int = 64,
    max_batch_tokens: int | None = None,
    prefill_tokens: int = 2048,
    on_done: Callable[[int], None] | None = None,
) -> list[list[int]]:
    """New token ids per prompt, decoded in one running batch that prompts join as others finish.

    `decode` keeps a batch until its longest answer ends, so the batch thins out as rows finish and the
    last steps run a few rows where the cores could run many. Here, once a quarter of the ``max_rows``
    slots are free, the next waiting prompts are prefilled together (left-padded, at most
    ``prefill_tokens`` padded tokens at a time) and join the running batch between two steps; prompts go
    in longest first, so a joining prompt is rarely longer than the batch it joins. ``max_batch_tokens``
    bounds the KV cache: rows times the longest prompt of the batch (or the next to join) plus
    ``max_new_tokens``, so short prompts run many rows and long ones fewer. ``on_done(index)`` is called as
    each prompt's answer ends.
    """
    torch = require("torch")
    generated: list[list[int]] = [[] for _ in prompts]
    waiting = deque(sorted(range(len(prompts)), key=lambda i: -len(prompts[i])))
    argument = _cache_argument(model)

    def rows_allowed() -> int:
        """Rows the batch may hold now."""
        if max_batch_tokens is None:
            return max_rows
        longest = max([len(prompts[i]) for i in rows] + ([len(prompts[waiting[0]])] if waiting else []), default=0)
        return max(1, min(max_rows, max_batch_tokens // (longest + max_new_tokens)))

    def forward(inputs: dict[str, Any], **extra: Any) -> Any:
        inputs = dict(inputs)
        cache = inputs.pop("cache")
        with cascade.attending(cache):
            return model(**inputs, **extra, **{argument: cache, "use_cache": True})

    def record(indexes: list[int], chosen: Any) -> list[int]:
        """Append each row's token; the rows whose answer goes on."""
        going = []
        for row, (index, token) in enumerate(zip(indexes, chosen.tolist(), strict=True)):
            generated[index].append(token)
            ids = generated[index]
            done = token in eos_ids or len(ids) >= max_new_tokens or (stopped is not None and stopped(index, ids))
            if done:
                if on_done is not None:
                    on_done(index)
            else:
                going.append(row)
        return going

    batch: RunningBatch | None = None
    rows: list[int] = []  # the prompt index of each row of the batch
    shared: tuple[tuple[int, ...], Any] | None = None  # the last shared prefix prefilled, and its cache
    with torch.inference_mode(), skinny_linears(model):
        while waiting or batch is not None:
            cap = rows_allowed()
            free = cap - len(rows)
            if waiting and free >= (max(1, cap // 4) if batch is not None else 1):
                group = [waiting.popleft()]
                width = len(prompts[group[0]])  # the longest of the group: prompts wait longest first
                while waiting and len(group) < free and (len(group) + 1) * width <= prefill_tokens:
                    group.append(waiting.popleft())
                inputs, shared, held = _group_inputs(model, [prompts[i] for i in group], pad_id, shared, forward)
                out = forward(inputs, logits_to_keep=1)
                chosen = _choose(out.logits[:, -1, :], temperature, top_p)
                cache, mask = inputs["cache"], inputs["attention_mask"]
                # each row's next position: its real length, the prefix held once included
                joining = RunningBatch(cache, mask, mask.sum(dim=1) + len(held), chosen, prefix=held)
                going = record(group, chosen)
                if going:
                    group = [group[row] for row in joining.keep(going)]
                    if batch is None:
                        batch, rows = joining, group
                    else:
                        batch.absorb(joining)
                        rows = rows + group
                continue  # fill the free rows before the next step
            if batch is None:
                continue
            cpu.rebalance()  # another process may have started or stopped computing
            inputs = batch.step_inputs()
            out = forward(inputs)
            chosen = _choose(out.logits[:, -1, :], temperature, top_p)
            batch.advance(inputs, chosen)
            going = record(rows, chosen)
            if not going:
                batch, rows = None, []
            elif len(going) < len(rows):
                rows = [rows[row] for row in batch.keep(going)]
    return generated


SHARED_PREFIX_MIN = 16
"""Prompts of a group that begin with at least this many tokens in common have them prefilled once."""


def _group_inputs(
    model: Any,
    prompts: list[list[int]],
    pad_id: int,
    shared: tuple[tuple[int, ...], Any] | None,
    forward: Callable[..., Any],
) -> tuple[dict[str, Any], tuple[tuple[int, ...], Any] | None, tuple[int, ...]]:
    """Prefill inputs (cache included) for a group of prompts, the shared prefix to remember, and the
    prefix the inputs' cache holds once for every row (empty when it is copied into each row).

    Stages send many prompts that begin alike: the system prompt, a style guide, few-shot examples. The
    tokens every prompt of the group begins with are run once (one row), their keys and values copied to
    every row, and only the rest of each prompt is run, left-padded after the prefix: the padding sits
    between prefix and rest, masked, and positions continue from the prefix, so every row computes what
    it would alone. The prefix's cache is kept for the next group, which usually shares it too.

    Where `cascade.usable` says so, the rows' cache holds the prefix once instead of a copy per row, and
    the inputs' mask covers only each row's own part (`models/cascade.py`).
    """
    torch = require("torch")
    device = model.device
    length = _common_prefix(prompts)
    if length < SHARED_PREFIX_MIN or len(prompts) < 2:
        return {**left_padded(prompts, pad_id, device), "cache": kvcache.new_cache(model)}, shared, ()
    prefix = tuple(prompts[0][:length])
    if shared is None or shared[0] != prefix:
        one = kvcache.new_cache(model)
        if not kvcache.editable(one):
            return {**left_padded(prompts, pad_id, device), "cache": one}, shared, ()
        ids = torch.tensor([prefix], device=device)
        forward({"input_ids": ids, "attention_mask": torch.ones_like(ids), "cache": one}, logits_to_keep=1)
        shared = (prefix, one)
    rest = left_padded([p[length:] for p in prompts], pad_id, device)
    if length >= cascade.MIN_PREFIX and cascade.usable(model):
        held = {"cache": kvcache.sharing(model, shared[1])}
        return {**rest, "position_ids": rest["position_ids"] + length, **held}, shared, prefix
    mask = torch.cat([rest["attention_mask"].new_ones((len(prompts), length)), rest["attention_mask"]], dim=1)
    inputs = {
        "input_ids": rest["input_ids"],
        "attention_mask": mask,
        "position_ids": rest["position_ids"] + length,
        "cache": kvcache.repeated(model, shared[1], len(prompts)),
    }
    return inputs, shared, ()


def _common_prefix(prompts: list[list[int]]) -> int:
    """How many tokens every prompt begins with, leaving each at least one of its own (its last token's
    logits choose its first answer token)."""
    first, n = prompts[0], min(len(p) for p in prompts) - 1
    for other in prompts[1:]:
        n = min(n, next((i for i in range(n) if other[i] != first[i]), n))
    return max(n, 0)


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
