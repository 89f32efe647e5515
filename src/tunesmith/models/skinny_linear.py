"""Linear layers for decoding steps on a CPU: the weight on the left of the matmul.

A decoding step multiplies a few rows (one token per running answer) by every weight of the model, and
the weights do not fit the CPU's cache. `nn.Linear` computes ``x @ W.T``; on the bundled model's shapes
with fp32 weights streamed from memory (30 layers' worth, as a step reads them), the same product
computed as ``(W @ x.T).T`` took 82 ms against 117 ms for 32 rows and 38 ms against 61 ms for the
49k-token output layer (2 cores, torch 2.13's CPU BLAS): the BLAS walks a row-major weight faster
untransposed. From about 128 rows on (a prefill, a training batch) the usual form is as fast or
faster, so only small row counts take this path, and only without autograd (training never does).

`skinny_linears(model)` gives the model's large fp32 CPU linears this forward for the length of a
decoding run and puts the class back after; nothing else about the modules changes (weights, hooks,
PEFT wrappers around them). Measured end to end by `bench/generate.py` (``skinny_linear_speedup``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tunesmith.core.deps import require

MIN_ROWS, MAX_ROWS = 1, 112
"""Row counts the weight-first product is used for; from about 128 rows on the usual form is as fast or
faster. One row is a matrix-vector product in every form, which MKL computed at 46-50 ms for the bundled
model's weights against 18-24 ms for the weight-first product of that row twice (an AMD EPYC, 2 cores):
a single row is computed as two and the first kept (a decoding step of one answer 1.25-1.6x faster,
tests/unit/test_skinny_linear.py, README "Generation, measured")."""

MIN_IN, MIN_OUT = 256, 128
"""Smaller layers (tiny test models, LoRA's low-rank matrices) fit the cache, where the forms tie."""

ENABLED = os.environ.get("TUNESMITH_SKINNY_LINEAR", "1") != "0"
"""``TUNESMITH_SKINNY_LINEAR=0`` keeps `nn.Linear`'s own product everywhere: for a CPU whose BLAS measures
otherwise (`bench/generate.py` reports ``skinny_linear_speedup``), and for measuring the difference."""

_class: type | None = None


def _skinny_class() -> type:
    """Defined on first use so that importing this module does not import torch."""
    global _class
    if _class is not None:
        return _class
    torch = require("torch")

    class SkinnyLinear(torch.nn.Linear):  # type: ignore[misc, name-defined]
        def forward(self, x: Any) -> Any:
            weight = self.weight
            rows = x.numel() // x.shape[-1] if x.shape[-1] else 0
            if (
                MIN_ROWS <= rows <= MAX_ROWS
                and not torch.is_grad_enabled()
                and x.dtype == weight.dtype == torch.float32
                and weight.device.type == "cpu"
            ):
                flat = x.reshape(rows, x.shape[-1])
                if rows == 1:  # a matrix-vector product: computed as two rows (see MIN_ROWS)
                    out = torch.mm(weight, torch.cat([flat, flat]).t())[:, :1].t().contiguous()
                else:
                    out = torch.mm(weight, flat.t()).t().contiguous()
                if self.bias is not None:
                    out += self.bias
                return out.view(*x.shape[:-1], weight.shape[0])
            return super().forward(x)

    _class = SkinnyLinear
    return SkinnyLinear


def eligible(module: Any) -> bool:
    torch = require("torch")
    return (
        type(module) is torch.nn.Linear
        and module.in_features >= MIN_IN
        and module.out_features >= MIN_OUT
        and module.weight.device.type == "cpu"
        and module.weight.dtype == torch.float32
    )


@contextmanager
def skinny_linears(model: Any) -> Iterator[int]:
    """For the block, ``model``'s large fp32 CPU `nn.Linear` modules compute small row counts weight
    first; yields how many modules that is (0 on a GPU, for quantized or half-precision weights).

    Nested blocks leave the modules to the outermost. The class swap keeps the module object, its
    weights and its hooks; a block on another thread sharing the model computes the same products
    either way, up to float rounding."""
    if not ENABLED:
        yield 0
        return
    torch = require("torch")
    skinny = _skinny_class()
    swapped = [m for m in model.modules() if eligible(m)]
    for module in swapped:
        module.__class__ = skinny
    try:
        yield len(swapped)
    finally:
        for module in swapped:
            module.__class__ = torch.nn.Linear
