"""Prompt caching: keys and values of prompts the server has answered, reused by prompts that begin alike.

A chat client sends the whole conversation with every turn, so turn five prefills the system prompt,
the retrieved facts and four turns again although the server computed all of them a moment ago; a team's
clients send the same long system prompt with every request. Prefill is the expensive part of a prompt
on a CPU (the bundled 135M model prefills a 512-token prompt in about 1.6 s on 2 cores, what 30 decoding
steps of one answer cost), and it is what a user waits for before the first token.

Here the server keeps, for the prompts it prefilled and the answers it finished, the keys and values
of every layer (one row, exactly the tokens' positions) under a memory budget, least recently used
evicted first. A new prompt reuses the longest cached run of tokens it begins with and prefills only
the rest. What is found is reported as OpenAI does, `usage.prompt_tokens_details.cached_tokens`.

- Storage is paged, as vLLM pages its KV cache (Kwon et al. 2023): one tensor of the budget's size,
  allocated at first use, in blocks of 16 positions of every layer; an entry is a list of blocks. Kept as
  separate tensors per entry, the entries' allocations and frees under load (a few MB each, hundreds a
  minute) fragmented the allocator's heap: `bench/load.py` peaked at 3.8 GB of RSS against 2.4-3.3 GB
  without the cache, for a budget of 256 MB; paged, at 2.7-2.8 GB. The arena holds the budget and no more.

- Lookup is by token ids: every 16-token block boundary of a stored sequence is indexed by a chain hash
  (each block's hash covers all before it), the deepest boundary the prompt shares is found in one pass,
  the tokens are compared for real (a hash collision never reuses the wrong keys), and the match is
  extended token by token past the boundary. At least one prompt token is always prefilled: its logits
  choose the first answer token.
- Entries are scoped: by the model and adapter that computed them (an adapter changes the keys and values)
  and by the API key of the request. Reuse is visible in latency and in `cached_tokens`, so one tenant
  must not learn whether another sent a prompt (the timing attacks on shared prompt caches, Gu et al.
  2025, "Auditing Prompt Caching in Language Model APIs"): requests under different keys never share.
- A finished answer's entry (prompt and answer) supersedes its prompt's entry, and any stored sequence
  that a new one extends is dropped: a conversation holds one entry, its latest turn.
- Keys and values reused from another batch composition equal a fresh prefill's up to float rounding,
  as batching itself does (tests/unit/test_prompt_cache.py checks multi-turn answers with and without).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

BLOCK = 16
"""Tokens per indexed block: a lookup costs one hash per block of the prompt."""

MIN_REUSE = 16
"""Fewer cached tokens than this are prefilled again: copying them costs about what computing them does."""


@dataclass(eq=False)
class _Entry:
    scope: Hashable
    tokens: tuple[int, ...]
    blocks: list[int]  # the arena blocks holding its keys and values, in order
    keys: list[Hashable] = field(default_factory=list)  # its block-boundary index keys


def _chain(tokens: Sequence[int], blocks: int) -> list[int]:
    """The chain hash at each of the first ``blocks`` block boundaries."""
    out, running = [], 0
    for b in range(blocks):
        running = hash((running, tuple(tokens[b * BLOCK : (b + 1) * BLOCK])))
        out.append(running)
    return out


class PromptCache:
    """Keys and values of token sequences, per scope, within ``budget_bytes`` (least recently used evicted)."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget = int(budget_bytes)
        self._entries: OrderedDict[int, _Entry] = OrderedDict()  # id -> entry, least recently used first
        self._index: dict[Hashable, dict[int, None]] = {}  # (scope, chain hash) -> ids of entries holding it
        # (blocks, layers, 2, heads, BLOCK, dim): block b holds keys [.., 0] and values [.., 1] of BLOCK positions
        self._arena: Any = None
        self._free: list[int] = []
        self._block_bytes = 0
        self._lock = threading.Lock()
        self.lookups = 0
        self.hits = 0
        self.reused_tokens = 0
        self.stored = 0
        self.evicted = 0

    # -- lookup ----------------------------------------------------------------------------------------
    def longest(self, scope: Hashable, tokens: Sequence[int]) -> tuple[int, _Entry | None]:
        """How many of ``tokens`` (leaving the last one) an entry of ``scope`` holds, and that entry."""
        limit = len(tokens) - 1
        with self._lock:
            self.lookups += 1
            best: tuple[int, _Entry | None] = (0, None)
            for depth, digest in enumerate(_chain(tokens, limit // BLOCK), start=1):
                ids = self._index.get((scope, digest))
                if not ids:
                    break
                entry = self._entries[next(reversed(ids))]  # the newest holding this prefix
                if entry.tokens[: depth * BLOCK] != tuple(tokens[: depth * BLOCK]):
                    break  # a hash collision: what follows is not this prompt's
                best = (depth * BLOCK, entry)
            length, entry = best
            if entry is None:
                return 0, None
            stop = min(limit, len(entry.tokens))
            while length < stop and entry.tokens[length] == tokens[length]:
                length += 1
            if length < MIN_REUSE:
                return 0, None
            self._entries.move_to_end(id(entry))
            self.hits += 1
            self.reused_tokens += length
            return length, entry

    def take(self, model: Any, scope: Hashable, tokens: Sequence[int]) -> tuple[Any, int]:
        """A new one-row cache holding the longest cached start of ``tokens``, and its length; (None, 0)
        when nothing of use is cached."""
        from tunesmith.models import kvcache

        length, entry = self.longest(scope, tokens)
        if entry is None:
            return None, 0
        cache = kvcache.holding(model, self.layers(entry, length), length)
        return (cache, length) if cache is not None else (None, 0)

    def layers(self, entry: _Entry, length: int) -> list[tuple[Any, Any]]:
        """The first ``length`` positions of an entry, per layer (keys, values) of shape (1, heads, length, dim)."""
        torch = _torch()
        used = entry.blocks[: -(-length // BLOCK)]
        index = torch.tensor(used, device=self._arena.device)
        _, n_layers, _, heads, _, dim = self._arena.shape
        out = []
        for layer in range(n_layers):
            pair = []
            for part in (0, 1):  # (blocks, heads, BLOCK, dim) -> (1, heads, blocks * BLOCK, dim)
                held = self._arena[index, layer, part].permute(1, 0, 2, 3).reshape(1, heads, len(used) * BLOCK, dim)
                pair.append(held[:, :, :length])
            out.append((pair[0], pair[1]))
        return out

    # -- storing ---------------------------------------------------------------------------------------
    def put(self, scope: Hashable, tokens: Sequence[int], layers: list[tuple[Any, Any]] | None) -> bool:
        """Keep ``layers`` (as `kvcache.row_copy` returns them) as the keys and values of ``tokens``; entries
        of the scope that ``tokens`` extends are dropped. False when it is not kept (too short, larger than
        the whole budget, or shapes that do not match)."""
        if layers is None or len(tokens) < MIN_REUSE or any(k.shape[2] != len(tokens) for k, _ in layers):
            return False
        with self._lock:
            if not self._fits(layers):
                return False
            needed = -(-len(tokens) // BLOCK)
            if needed > self._arena.shape[0]:
                return False  # more than the whole budget
            entry = _Entry(scope, tuple(tokens), [])
            for key in [(scope, d) for d in _chain(tokens, len(tokens) // BLOCK)]:
                for other in list(self._index.get(key, ())):
                    held = self._entries[other]
                    if len(held.tokens) <= len(entry.tokens) and entry.tokens[: len(held.tokens)] == held.tokens:
                        self._drop(held)  # the new sequence holds all of it
                entry.keys.append(key)
            while len(self._free) < needed:
                self._drop(next(iter(self._entries.values())))
                self.evicted += 1
            entry.blocks = [self._free.pop() for _ in range(needed)]
            self._write(entry.blocks, layers)
            for key in entry.keys:
                self._index.setdefault(key, {})[id(entry)] = None
            self._entries[id(entry)] = entry
            self.stored += 1
        return True

    def _fits(self, layers: list[tuple[Any, Any]]) -> bool:
        """Whether ``layers`` have the arena's shape (allocating it, at the budget's size, on first use)."""
        torch = _torch()
        first = layers[0][0]
        heads, dim = first.shape[1], first.shape[3]
        if any(t.shape[1] != heads or t.shape[3] != dim or t.dtype != first.dtype for pair in layers for t in pair):
            return False  # layers of different shapes (not a model this cache serves)
        if self._arena is None:
            self._block_bytes = len(layers) * 2 * heads * BLOCK * dim * first.element_size()
            blocks = self.budget // self._block_bytes
            if blocks == 0:
                return False
            # torch.empty touches no page: memory is taken as blocks are first written, up to the budget
            self._arena = torch.empty(
                (blocks, len(layers), 2, heads, BLOCK, dim), dtype=first.dtype, device=first.device
            )
            self._free = list(range(blocks - 1, -1, -1))
        _, n_layers, _, a_heads, _, a_dim = self._arena.shape
        return (n_layers, a_heads, a_dim, self._arena.dtype, self._arena.device) == (
            len(layers),
            heads,
            dim,
            first.dtype,
            first.device,
        )

    def _write(self, blocks: list[int], layers: list[tuple[Any, Any]]) -> None:
        torch = _torch()
        index = torch.tensor(blocks, device=self._arena.device)
        padded = len(blocks) * BLOCK
        for layer, pair in enumerate(layers):
            for part, tensor in enumerate(pair):  # (1, heads, n, dim) -> (blocks, heads, BLOCK, dim)
                heads, n, dim = tensor.shape[1], tensor.shape[2], tensor.shape[3]
                whole = torch.nn.functional.pad(tensor[0], (0, 0, 0, padded - n))
                self._arena[index, layer, part] = whole.view(heads, len(blocks), BLOCK, dim).permute(1, 0, 2, 3)

    def _drop(self, entry: _Entry) -> None:
        if self._entries.pop(id(entry), None) is None:
            return
        self._free.extend(entry.blocks)
        for key in entry.keys:
            ids = self._index.get(key)
            if ids is not None:
                ids.pop(id(entry), None)
                if not ids:
                    del self._index[key]

    def clear(self) -> None:
        with self._lock:
            for entry in list(self._entries.values()):
                self._drop(entry)

    def stats(self) -> dict[str, int]:
        with self._lock:
            held = sum(len(e.blocks) for e in self._entries.values())
            return {
                "entries": len(self._entries),
                "bytes": held * self._block_bytes,
                "budget_bytes": self.budget,
                "lookups": self.lookups,
                "hits": self.hits,
                "reused_tokens": self.reused_tokens,
                "stored": self.stored,
                "evicted": self.evicted,
            }


def _torch() -> Any:
    from tunesmith.core.deps import require

    return require("torch")
