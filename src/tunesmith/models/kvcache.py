"""A KV cache that grows in place, and the row and column edits batching needs.

transformers' `DynamicLayer` appends each step's keys and values with
`torch.cat`, copying the whole cache of every layer at every decoding step. On
2 CPU cores with the bundled model, a batch of 32 rows at 256 tokens spent a
third of each step in those copies (torch profiler: `aten::cat` 33%, matmuls
47%). `GrowingLayer` keeps keys and values in buffers with room to spare
(doubled when full, as a vector grows), writes each step's entries into the
room, and hands attention a view of the filled part: a step copies one token's
keys, not the cache.

The batching code edits caches between steps: rows leave (`keep_rows`: rows from the end take the
leaving rows' places), leading columns no row attends to are dropped (a view: the buffer's start
moves), and two batches become one, each right-aligned to the longer (`stack`).

A layer can also hold a ``prefix``: keys and values of tokens every row begins with, kept once (one
row) instead of copied into each row (`sharing`); `models/cascade.py` attends to it. The layer's own
keys, values, length and edits are then each row's part after it; `demote` moves the prefix's tail (or
all of it) into the rows when batches with different prefixes join.
"""

from __future__ import annotations

from typing import Any

from tunesmith.core.deps import require

ROOM = 64
"""Cache positions added beyond what is needed when a buffer is (re)allocated."""


def _layer_class() -> type:
    """Defined on first use so that importing this module does not import transformers."""
    global _GrowingLayer
    if _GrowingLayer is not None:
        return _GrowingLayer
    transformers = require("transformers")
    torch = require("torch")

    class GrowingLayer(transformers.cache_utils.DynamicLayer):  # type: ignore[misc, name-defined]
        """Keys and values of shape (rows, heads, length, dim) as views of larger buffers."""

        prefix: tuple[Any, Any] | None = None  # (keys, values) of shape (1, heads, P, dim) every row attends to

        def lazy_initialization(self, key_states: Any, value_states: Any) -> None:
            self.device = key_states.device
            self._keys = self._values = None
            self._start = self._end = 0
            self.is_initialized = True

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            n = key_states.shape[-2]
            if self._keys is None:
                self._allocate(key_states, value_states, key_states.shape[-2] + ROOM)
                self._keys[:, :, :n].copy_(key_states)
                self._values[:, :, :n].copy_(value_states)
                self._end = n
            else:
                if self._end + n > self._keys.shape[2]:
                    self._regrow(max(2 * (self._end - self._start), self._end - self._start + n) + ROOM)
                self._keys[:, :, self._end : self._end + n].copy_(key_states)
                self._values[:, :, self._end : self._end + n].copy_(value_states)
                self._end += n
            self._expose()
            return self.keys, self.values

        def _allocate(self, keys: Any, values: Any, capacity: int) -> None:
            rows, heads, _, dim = keys.shape
            self._keys = keys.new_empty((rows, heads, capacity, dim))
            self._values = values.new_empty((rows, heads, capacity, values.shape[-1]))

        def _regrow(self, capacity: int) -> None:
            used = self._end - self._start
            old_keys, old_values = self._keys, self._values
            self._allocate(old_keys, old_values, capacity)
            self._keys[:, :, :used].copy_(old_keys[:, :, self._start : self._end])
            self._values[:, :, :used].copy_(old_values[:, :, self._start : self._end])
            self._start, self._end = 0, used

        def _expose(self) -> None:
            self.keys = self._keys[:, :, self._start : self._end]
            self.values = self._values[:, :, self._start : self._end]

        def get_seq_length(self) -> int:
            return self._end - self._start if self.is_initialized and self._keys is not None else 0

        def crop(self, tokens_to_remove: int) -> None:
            if tokens_to_remove < 0 and self.get_seq_length():
                self._end = max(self._start, self._end + tokens_to_remove)
                self._expose()

        def batch_select_indices(self, indices: Any) -> None:
            if self.get_seq_length():
                self._keys, self._values = self._keys[indices], self._values[indices]
                self._expose()

        def fill_and_cut(self, sources: Any, holes: Any, rows: int) -> None:
            """Copy rows ``sources`` into rows ``holes`` and keep the first ``rows`` (a view of the buffer)."""
            if not self.get_seq_length():
                return
            if len(holes):
                used = slice(self._start, self._end)
                # a buffer allocated during a forward pass is an inference tensor, which only inference mode may
                # write to; the server's scheduler edits its batch between steps, outside inference mode
                with torch.inference_mode(self._keys.is_inference()):
                    self._keys[holes, :, used] = self._keys[sources, :, used]
                    self._values[holes, :, used] = self._values[sources, :, used]
            self._keys, self._values = self._keys[:rows], self._values[:rows]
            self._expose()

        def batch_repeat_interleave(self, repeats: int) -> None:
            if self.get_seq_length():
                self._keys = self._keys.repeat_interleave(repeats, dim=0)
                self._values = self._values.repeat_interleave(repeats, dim=0)
                self._expose()

        def drop_front(self, columns: int) -> None:
            """Forget the first ``columns`` positions of every row (a view; nothing is copied)."""
            if columns > 0 and self.get_seq_length():
                self._start = min(self._end, self._start + columns)
                self._expose()

        def replace(self, keys: Any, values: Any, room: int = ROOM) -> None:
            """Hold exactly these keys and values (with ``room`` to grow)."""
            self.device = keys.device
            self.is_initialized = True
            self._allocate(keys, values, keys.shape[2] + room)
            n = keys.shape[2]
            self._keys[:, :, :n].copy_(keys)
            self._values[:, :, :n].copy_(values)
            self._start, self._end = 0, n
            self._expose()

    _GrowingLayer = GrowingLayer
    return GrowingLayer


_GrowingLayer: type | None = None


def new_cache(model: Any) -> Any:
    """An empty cache for ``model``: growing layers where every layer is a plain key/value layer, else the
    model's own (sliding-window and other special layers keep transformers' classes)."""
    transformers = require("transformers")
    cache = transformers.DynamicCache(config=model.config)
    plain = transformers.cache_utils.DynamicLayer
    if cache.layers and all(type(layer) is plain for layer in cache.layers):
        layer = _layer_class()
        cache.layers = [layer() for _ in cache.layers]
    return cache


def bytes_per_token(model: Any) -> int:
    """Keys and values one token of one row keeps across the model's layers."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    element = next(model.parameters()).element_size()
    return 2 * config.num_hidden_layers * kv_heads * head_dim * element


def editable(cache: Any) -> bool:
    """Whether rows can join and columns be dropped (plain key/value layers, growing or not)."""
    transformers = require("transformers")
    plain = transformers.cache_utils.DynamicLayer
    return bool(cache.layers) and all(type(layer) in (plain, _layer_class()) for layer in cache.layers)


def keep_rows(cache: Any, rows: list[int]) -> list[int]:
    """Keep only ``rows`` of every layer; returns the kept rows in their new order.

    Growing layers move each kept row from past the end into a leaving row's place and cut the rest off,
    so a step where one answer ends copies that one row's keys and values, not the whole cache. Gathering
    every kept row (`batch_select_indices`) at each ending took 8% of the probe's decoding time at 64 rows
    (torch profiler, 2 CPU cores). Other layers gather, in the order returned."""
    torch = require("torch")
    count = len(rows)
    kept = set(rows)
    holes = [r for r in range(count) if r not in kept]
    sources = [r for r in rows if r >= count]
    order = list(range(count))
    for hole, source in zip(holes, sources, strict=True):
        order[hole] = source
    if isinstance(cache.layers[0], _layer_class()) and all(type(x) is type(cache.layers[0]) for x in cache.layers):
        device = _device(cache)
        hole_index = torch.tensor(holes, dtype=torch.long, device=device)
        source_index = torch.tensor(sources, dtype=torch.long, device=device)
        for layer in cache.layers:
            layer.fill_and_cut(source_index, hole_index, count)
    else:
        cache.batch_select_indices(torch.tensor(order, dtype=torch.long, device=_device(cache)))
    return order


def _device(cache: Any) -> Any:
    for layer in cache.layers:
        if layer.get_seq_length():
            return layer.keys.device
    return "cpu"


def drop_front(cache: Any, columns: int) -> None:
    """Drop the first ``columns`` positions of every row of every layer."""
    if columns <= 0:
        return
    for layer in cache.layers:
        if hasattr(layer, "drop_front"):
            layer.drop_front(columns)
        elif layer.get_seq_length():
            layer.keys, layer.values = layer.keys[:, :, columns:], layer.values[:, :, columns:]


def stack(cache: Any, other: Any, length: int) -> None:
    """``other``'s rows join ``cache``'s below them, both padded on the left to ``length`` positions."""
    torch = require("torch")
    functional = torch.nn.functional

    def padded(tensor: Any) -> Any:
        return functional.pad(tensor, (0, 0, length - tensor.shape[2], 0))

    for mine, theirs in zip(cache.layers, other.layers, strict=True):
        keys = torch.cat([padded(mine.keys), padded(theirs.keys)])
        values = torch.cat([padded(mine.values), padded(theirs.values)])
        if hasattr(mine, "replace"):
            mine.replace(keys, values)
        else:
            mine.keys, mine.values = keys, values


def sharing(model: Any, cache: Any) -> Any:
    """A new, empty cache whose layers hold a one-row cache's keys and values once, as the prefix of every
    row to come (views: nothing is copied). Needs growing layers (`editable` of ``cache``)."""
    shared = new_cache(model)
    for mine, theirs in zip(shared.layers, cache.layers, strict=True):
        if not hasattr(mine, "replace"):
            raise ValueError("only growing cache layers hold a shared prefix")
        mine.prefix = (theirs.keys[:1], theirs.values[:1])
    return shared


def prefix_length(cache: Any) -> int:
    """How many positions the layers of ``cache`` hold once for every row (0: none)."""
    prefix = getattr(cache.layers[0], "prefix", None) if cache.layers else None
    return int(prefix[0].shape[2]) if prefix is not None else 0


def demote(cache: Any, keep: int) -> None:
    """Keep only the first ``keep`` positions of the shared prefix; the rest are copied into every row,
    in front of its own (all of it, with ``keep`` 0)."""
    torch = require("torch")
    for layer in cache.layers:
        prefix = getattr(layer, "prefix", None)
        if prefix is None or prefix[0].shape[2] <= keep:
            continue
        keys, values = layer.keys, layer.values
        rows = keys.shape[0]
        moved_keys = prefix[0][:, :, keep:].expand(rows, -1, -1, -1)
        moved_values = prefix[1][:, :, keep:].expand(rows, -1, -1, -1)
        layer.replace(torch.cat([moved_keys, keys], dim=2), torch.cat([moved_values, values], dim=2))
        layer.prefix = (prefix[0][:, :, :keep], prefix[1][:, :, :keep]) if keep > 0 else None


def repeated(model: Any, cache: Any, rows: int) -> Any:
    """A new cache holding ``rows`` copies of a one-row cache (a shared prompt prefix, for each prompt)."""
    copy = new_cache(model)
    for mine, theirs in zip(copy.layers, cache.layers, strict=True):
        keys = theirs.keys.expand(rows, -1, -1, -1)
        values = theirs.values.expand(rows, -1, -1, -1)
        if hasattr(mine, "replace"):
            mine.replace(keys, values)
        else:
            mine.lazy_initialization(keys, values)
            mine.keys, mine.values = keys.contiguous(), values.contiguous()
    return copy


def row_copy(cache: Any, row: int, columns: Any) -> list[tuple[Any, Any]] | None:
    """Copies of one row's keys and values at ``columns`` (a 1-D index) of every layer, each of shape
    (1, heads, len(columns), dim); None when a layer holds a shared prefix or is not a plain key/value layer
    (what it holds is then not the row's alone)."""
    if not editable(cache):
        return None
    out = []
    for layer in cache.layers:
        if getattr(layer, "prefix", None) is not None:
            return None
        keys, values = layer.keys[row : row + 1], layer.values[row : row + 1]
        out.append((keys.index_select(2, columns), values.index_select(2, columns)))
    return out


def holding(model: Any, layers: list[tuple[Any, Any]], length: int) -> Any:
    """A new one-row cache holding the first ``length`` positions of ``layers`` (as `row_copy` returns them),
    copied with room to grow; None where the model's cache layers cannot hold them (`editable`)."""
    cache = new_cache(model)
    if not editable(cache) or len(cache.layers) != len(layers):
        return None
    for mine, (keys, values) in zip(cache.layers, layers, strict=True):
        if not hasattr(mine, "replace"):
            return None
        mine.replace(keys[:, :, :length], values[:, :, :length])
    return cache


def stacked(model: Any, caches: list[Any], length: int) -> Any:
    """A new cache whose rows are the one-row ``caches`` in order (None: a row with nothing cached), each padded
    on the left to ``length`` positions (the padding is masked by the caller)."""
    torch = require("torch")
    functional = torch.nn.functional
    out = new_cache(model)
    example = next(c for c in caches if c is not None)
    for index, mine in enumerate(out.layers):
        like = example.layers[index]
        keys, values = [], []
        for cache in caches:
            if cache is None:
                keys.append(like.keys.new_zeros((1, like.keys.shape[1], length, like.keys.shape[3])))
                values.append(like.values.new_zeros((1, like.values.shape[1], length, like.values.shape[3])))
            else:
                layer = cache.layers[index]
                keys.append(functional.pad(layer.keys, (0, 0, length - layer.keys.shape[2], 0)))
                values.append(functional.pad(layer.values, (0, 0, length - layer.values.shape[2], 0)))
        mine.replace(torch.cat(keys), torch.cat(values))
    return out
