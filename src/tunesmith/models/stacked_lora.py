"""Rows of several LoRA adapters, and of the base model, in one forward pass without PEFT's per-call work.

PEFT mixes adapters in a batch through ``adapter_names=``: at every call it walks the model to register a
pre-forward hook on each LoRA layer (and removes them after), and in each layer it gathers every adapter's
rows into a copy, runs that adapter's matrices on them and scatters the result back. For the server's
decoding steps, a few rows and one token each, that overhead is most of the adapters' cost: on the bundled
model (2 CPU cores, fp32, 16 rows, base + two rank-16 all-linear adapters) a step took 158-167 ms mixed
against 114-117 ms for one adapter's rows.

Here each LoRA layer holds the adapters in use stacked: their A matrices one above the other (sum of the
ranks x in) and their B matrices side by side (out x sum of the ranks), and a step computes

    base(x) + ((x @ A_stack.T) * rows) @ B_stack.T

where ``rows`` holds, for each row, its adapter's scaling on the columns of its adapter's rank and zero on
the others: two small products and one multiply per layer whatever the mix, no copies, no hooks. The same
step took 112-116 ms, as fast as one adapter's (`bench/multi_adapter.py`). A base-model row adds exact zeros, so
it computes what the base model computes; an adapter's rows agree with PEFT's to float rounding (products
of another shape may round differently).

Plain LoRA on `nn.Linear` layers only. DoRA and the other variants, a trained B bias, extra trained modules
(`modules_to_save`, trainable tokens), LoRA on embeddings or convolutions, quantized or merged layers, and a
model in training mode keep PEFT's own path (`AdapterStacks.supports`).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from tunesmith.core.deps import require

KEPT_STACKS = 4
"""Sets of adapters whose stacked matrices are kept (least recently used dropped): a stack copies its
adapters' LoRA weights once (~20 MB per rank-16 all-linear adapter of the bundled model in fp32)."""

ENABLED = os.environ.get("TUNESMITH_STACKED_LORA", "1") != "0"
"""``TUNESMITH_STACKED_LORA=0`` leaves every mixed pass to PEFT's ``adapter_names`` (for measuring the
difference: `bench/multi_adapter.py` reports both)."""

_ATTRIBUTE = "_tunesmith_stack"


def _lora_linear() -> type:
    from peft.tuners.lora.layer import Linear

    return Linear


_STACKED: type | None = None


def _stacked_class() -> type:
    """A subclass of PEFT's LoRA `Linear` whose forward reads the stack set on the module for the pass."""
    global _STACKED
    if _STACKED is None:
        torch = require("torch")
        functional = torch.nn.functional

        class StackedLoraLinear(_lora_linear()):  # type: ignore[misc]
            def forward(self, x: Any, *args: Any, **kwargs: Any) -> Any:
                result = self.base_layer(x, *args, **kwargs)
                stack = getattr(self, _ATTRIBUTE, None)
                if stack is None:  # no row of this pass has an adapter on this layer
                    return result
                a, b, rows = stack
                if x.dim() == 2:
                    rows = rows[:, 0]
                low = functional.linear(x.to(a.dtype), a) * rows
                return result + functional.linear(low, b).to(result.dtype)

        _STACKED = StackedLoraLinear
    return _STACKED


class AdapterStacks:
    """The stacked LoRA matrices of one PEFT model's adapters, for passes whose rows use several of them.

    Owned by the generator that owns the model: it must be `reset` whenever an adapter is loaded or removed
    (a new adapter may reuse a name), and used with the generator's lock held."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._layers: list[Any] | None = None
        self._supported: dict[str, bool] = {}
        self._plain: bool | None = None
        self._stacks: OrderedDict[tuple[str, ...], list[tuple[Any, Any, tuple[tuple[str, int, float], ...]] | None]] = (
            OrderedDict()
        )

    def reset(self, model: Any | None = None) -> None:
        """Forget every stack and decision (adapters changed; ``model``: the generator's model if it changed)."""
        if model is not None:
            self.model = model
        self._layers = None
        self._plain = None
        self._supported.clear()
        self._stacks.clear()

    def layers(self) -> list[Any]:
        """The model's LoRA layers, every kind (found once per set of loaded adapters)."""
        if self._layers is None:
            from peft.tuners.lora.layer import LoraLayer

            self._layers = [m for m in self.model.modules() if isinstance(m, LoraLayer)]
        return self._layers

    def supports(self, adapters: set[str]) -> bool:
        """Whether rows of these adapters may take the stacked path: every LoRA layer of the model a plain,
        unmerged one on a linear layer, and each adapter plain LoRA."""
        if not ENABLED or self.model.training or not hasattr(self.model, "peft_config"):
            return False
        if self._plain is None:
            linear = _lora_linear()
            self._plain = all(type(layer) is linear for layer in self.layers())
        if not self._plain or any(layer.merged for layer in self.layers()):
            return False
        return all(self._supports(name) for name in adapters)

    def _supports(self, name: str) -> bool:
        if name not in self._supported:
            self._supported[name] = self._check(name)
        return self._supported[name]

    def _check(self, name: str) -> bool:
        config = self.model.peft_config.get(name)
        kind = getattr(config, "peft_type", None)
        if config is None or getattr(kind, "value", kind) != "LORA":
            return False
        if getattr(config, "modules_to_save", None) or getattr(config, "trainable_token_indices", None):
            return False
        holding = [layer for layer in self.layers() if name in layer.lora_A]
        return bool(holding) and not any(
            name in layer.lora_variant or layer.lora_bias.get(name) or name in layer.lora_embedding_A
            for layer in holding
        )

    def _stack(self, names: tuple[str, ...]) -> list[tuple[Any, Any, tuple[tuple[str, int, float], ...]] | None]:
        """Per layer (in `layers` order): (A stacked, B side by side, layout of (adapter, rank)), or None."""
        if names in self._stacks:
            self._stacks.move_to_end(names)
            return self._stacks[names]
        torch = require("torch")
        out: list[tuple[Any, Any, tuple[tuple[str, int, float], ...]] | None] = []
        with torch.no_grad():
            for layer in self.layers():
                present = [n for n in names if n in layer.lora_A]
                if not present:
                    out.append(None)
                    continue
                a = torch.cat([layer.lora_A[n].weight for n in present], dim=0).contiguous()
                b = torch.cat([layer.lora_B[n].weight for n in present], dim=1).to(a.dtype).contiguous()
                layout = tuple((n, int(layer.lora_A[n].weight.shape[0]), float(layer.scaling[n])) for n in present)
                out.append((a, b, layout))
        self._stacks[names] = out
        while len(self._stacks) > KEPT_STACKS:
            self._stacks.popitem(last=False)
        return out

    @contextmanager
    def rows(self, adapters: Sequence[str | None]) -> Iterator[None]:
        """For the block, the model computes row i through ``adapters[i]`` (None: the base model). The
        model's LoRA layers must all be of the kinds `supports` accepts for these adapters."""
        torch = require("torch")
        names = tuple(sorted({a for a in adapters if a is not None}))
        layers = self.layers()
        stacks = self._stack(names) if names else [None] * len(layers)
        masks: dict[tuple[tuple[str, int, float], ...], Any] = {}
        stacked = _stacked_class()
        swapped: list[tuple[Any, type]] = []
        try:
            for layer, stack in zip(layers, stacks, strict=True):
                value = None
                if stack is not None:
                    a, b, layout = stack
                    mask = masks.get(layout)
                    if mask is None:
                        mask = masks[layout] = self._mask(layout, adapters, a, torch)
                    value = (a, b, mask)
                setattr(layer, _ATTRIBUTE, value)
                swapped.append((layer, type(layer)))
                layer.__class__ = stacked
            yield
        finally:
            for layer, cls in swapped:
                layer.__class__ = cls
                setattr(layer, _ATTRIBUTE, None)

    @staticmethod
    def _mask(layout: tuple[tuple[str, int, float], ...], adapters: Sequence[str | None], a: Any, torch: Any) -> Any:
        """(rows, 1, sum of ranks): each row's adapter's scaling on its rank's columns, zero elsewhere."""
        mask = torch.zeros((len(adapters), 1, a.shape[0]), dtype=a.dtype)
        start = 0
        columns = {}
        for name, rank, scaling in layout:
            columns[name] = (start, start + rank, scaling)
            start += rank
        for row, name in enumerate(adapters):
            if name in columns:
                low, high, scaling = columns[name]
                mask[row, 0, low:high] = scaling
        return mask.to(a.device)
