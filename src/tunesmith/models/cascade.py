"""Attention over a prompt prefix that every row of a batch shares, read once per step.

Stages send many prompts that begin alike (a system prompt, a style guide, few-shot examples), and the
offline decoder prefills that prefix once (`models/decode.py`). Copied into every row's cache, it was
still read once per row at every decoding step: on the bundled model with a 495-token shared prefix and
100 tokens of each row's own, a step of 64 rows took 470-500 ms. Here the prefix's keys and values are
held once (one row, `kvcache` layers' ``prefix``) and each row's cache holds only its own part. Attention
then runs in two parts whose scores share one softmax:

- the prefix: every query of every row against the one copy, one batched matrix product per key/value
  head (queries of all rows and all heads of a group stacked), with no mask (every row sees it all);
- each row's own part: the usual product, with the row's mask (left padding, causality).

The same step took 325 ms (1.48x; 32 rows 1.37x, 16 rows 1.26x), logits within 5e-5 of SDPA over the
copied prefix and the same argmax. Short prefixes gain nothing and stay copied (`MIN_PREFIX`).
`bench/generate.py` measures it end to end (``cascade_speedup``).

It takes over transformers' ``"sdpa"`` attention function while a cache holding a prefix is active
(`attending`): outside such a block, and for layers without a prefix, the call goes to transformers'
own function unchanged. Models whose attention needs more than a scaled softmax (sliding windows,
soft-capping, attention sinks) and GPUs (not measured) keep the copied prefix (`usable`).
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tunesmith.core.deps import require

ENABLED = os.environ.get("TUNESMITH_CASCADE", "1") != "0"
"""``TUNESMITH_CASCADE=0`` copies the shared prefix into every row instead: for measuring the difference."""

MIN_PREFIX = 64
"""Shorter shared prefixes are copied into every row, as before: at 16 tokens (a chat template's default
system prompt) the two-part attention measured 3% slower a step (16 rows, 200 tokens of their own), at
30 tokens even (48 rows, 300 of their own), at 130 tokens 1.07-1.16x faster."""

_active: contextvars.ContextVar[Any] = contextvars.ContextVar("tunesmith_cascade_cache", default=None)
_installed = False


def usable(model: Any) -> bool:
    """Whether ``model``'s decoding can hold a shared prefix once: SDPA attention on a CPU, and a config
    with nothing that the two-part softmax would leave out."""
    if not ENABLED:
        return False
    config = getattr(model, "config", None)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    if text is None or getattr(text, "_attn_implementation", None) != "sdpa":
        return False
    if getattr(model, "device", None) is None or model.device.type != "cpu":
        return False
    # sliding windows and chunked attention already get their own cache layers, which hold no prefix
    return not any(getattr(text, name, None) for name in ("attn_logit_softcapping", "attention_chunk_size"))


@contextmanager
def attending(cache: Any) -> Iterator[None]:
    """For the block, attention layers whose ``cache`` layer holds a prefix attend to it too."""
    _install()
    token = _active.set(cache)
    try:
        yield
    finally:
        _active.reset(token)


def _install() -> None:
    """Route transformers' SDPA attention through `_attention` (once per process)."""
    global _installed
    if _installed:
        return
    torch = require("torch")
    transformers = require("transformers")
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    def attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, **kwargs: Any) -> Any:
        # a compiled graph (train.compile) cannot read a ContextVar, and never decodes with a shared prefix
        if torch.compiler.is_compiling():
            return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
        cache = _active.get()
        layer_index = getattr(module, "layer_idx", None)
        prefix = None
        if cache is not None and layer_index is not None and layer_index < len(cache.layers):
            prefix = getattr(cache.layers[layer_index], "prefix", None)
        if prefix is None:
            return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
        for name in ("softcap", "sliding_window", "s_aux", "position_bias"):
            if kwargs.get(name) is not None:
                raise ValueError(f"a shared-prefix cache cannot attend with {name}; `cascade.usable` should refuse")
        keys, values = prefix
        out = attend(query, key, value, attention_mask, keys, values, kwargs.get("scaling"))
        return out, None

    transformers.AttentionInterface.register("sdpa", attention)
    _installed = True


def attend(
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    prefix_keys: Any,
    prefix_values: Any,
    scaling: float | None = None,
) -> Any:
    """Attention of ``query`` (rows, heads, q, d) over a shared prefix (1, kv heads, P, d) followed by each
    row's own keys and values (rows, kv heads, S, d) under ``attention_mask`` ((rows, 1, q, S) booleans or
    additive floats; None: causal within the last q positions). Returns (rows, q, heads, d), the layout
    transformers' attention functions return."""
    torch = require("torch")
    rows, heads, q_len, dim = query.shape
    kv_heads, own = key.shape[1], key.shape[2]
    group = heads // kv_heads
    scale = scaling if scaling is not None else dim**-0.5
    # the heads of a group are consecutive: (rows, kv heads, group x q, d), every query of a group in one block
    q = query.reshape(rows, kv_heads, group * q_len, dim)
    compute = torch.float32 if query.dtype in (torch.float16, torch.bfloat16) else query.dtype
    stacked = q.transpose(0, 1).reshape(kv_heads, rows * group * q_len, dim)
    shared = torch.bmm(stacked, prefix_keys[0].transpose(1, 2)).to(compute).mul_(scale)  # (kv, rows·g·q, P)
    shared = shared.view(kv_heads, rows, group * q_len, -1).transpose(0, 1)  # (rows, kv, g·q, P)
    scores = torch.matmul(q, key.transpose(2, 3)).to(compute).mul_(scale)  # (rows, kv, g·q, S)
    if attention_mask is None and q_len > 1:
        attention_mask = torch.ones(q_len, own, dtype=torch.bool, device=query.device).tril(own - q_len)
    if attention_mask is not None:
        mask = attention_mask.expand(rows, 1, q_len, own)
        mask = mask[:, :, None].expand(rows, 1, group, q_len, own).reshape(rows, 1, group * q_len, own)
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask.to(compute)
    top = torch.maximum(shared.amax(-1, keepdim=True), scores.amax(-1, keepdim=True))
    shared = (shared - top).exp_()
    scores = (scores - top).exp_()
    total = shared.sum(-1, keepdim=True) + scores.sum(-1, keepdim=True)
    weights = shared.to(query.dtype).transpose(0, 1).reshape(kv_heads, rows * group * q_len, -1)
    out = torch.bmm(weights, prefix_values[0]).view(kv_heads, rows, group * q_len, dim).transpose(0, 1)
    out = (out.to(compute) + torch.matmul(scores.to(query.dtype), value).to(compute)) / total
    return out.to(query.dtype).reshape(rows, heads, q_len, dim).transpose(1, 2).contiguous()
