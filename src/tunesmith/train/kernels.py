"""How a training run computes: attention kernel, padding-free batches, Liger kernels, activation
checkpointing, torch.compile. Each is decided for the device at hand, said with its reason (as the
hyperparameters are), and can be set in the project instead (`train.attention`, `train.padding_free`,
`train.liger`, `train.activation_checkpointing`).

- Attention: FlashAttention-2 when the `flash-attn` package is installed on a CUDA GPU computing in
  16 bits (its variable-length kernels take a concatenated batch with no mask); else PyTorch's SDPA
  (flash and memory-efficient kernels on GPUs, flash-attention-for-CPU on CPUs).
- Padding-free batches (a micro batch's examples concatenated, positions restarting at each example,
  no attention across examples; TRL's collator, transformers' packed-sequence masks): on with a
  varlen kernel, where it removes all padding work. With SDPA the same batch needs a dense block mask
  over the whole concatenation, (b*s)^2 instead of b*s^2, so batches stay padded, grouped by length to
  waste little. The loss is the same either way (tests/unit/test_kernels.py).
- Liger kernels (fused RMSNorm, RoPE, SwiGLU; Triton): on a CUDA GPU when `liger-kernel` is installed.
  The loss already runs the output layer on trained positions only (train/trainer.py), the saving
  Liger's fused cross-entropy would bring.
- Activation checkpointing: on a GPU, on only when the memory estimate without it does not fit the
  device and with it does; on a CPU off (memory is rarely the limit, recomputing costs ~1/3 more work).
- torch.compile: off unless the project asks (`train.compile: true`). Measured on the bundled model on
  2 CPU cores (bench/compile.py, LoRA steps of varying length, dynamic shapes): compiling took 310 s and
  steps then ran 1.075x eager, paid back after about 800 steps, more than most runs take (the demo trains
  56). Not measured on a GPU yet, where compiling should take far less. When on, only the decoder's
  training steps are compiled: validation and generation stay eager (a no-grad graph compiles again).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any

from tunesmith.core.errors import ConfigError

FIT_SHARE = 0.9  # of a GPU's memory a run may plan to use (the CUDA context and fragmentation take the rest)


@dataclass
class KernelPlan:
    attention: str
    padding_free: bool
    liger: bool
    checkpointing: bool
    compile: bool = False
    reasons: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "attention": self.attention,
            "padding_free": self.padding_free,
            "liger": self.liger,
            "activation_checkpointing": self.checkpointing,
            "compile": self.compile,
            "reasons": self.reasons,
        }


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def plan(
    cfg: Any,
    *,
    device: str,
    half_precision: bool,
    peak_bytes: Any = None,
    device_bytes: int | None = None,
) -> KernelPlan:
    """The kernel choices for a TrainConfig on ``device``; ``peak_bytes(checkpointing)`` estimates the peak
    memory of the run (for the checkpointing decision), ``device_bytes`` is the device's memory."""
    gpu = device.startswith("cuda")
    reasons: dict[str, str] = {}

    attention = cfg.attention
    if attention == "auto":
        if gpu and half_precision and installed("flash_attn"):
            attention = "flash_attention_2"
            reasons["attention"] = "flash-attn is installed: variable-length kernels, no padding, no mask"
        else:
            attention = "sdpa"
            reasons["attention"] = (
                "PyTorch SDPA (flash and memory-efficient kernels)" if gpu else "PyTorch SDPA (flash attention for CPU)"
            ) + ("; pip install flash-attn for varlen kernels" if gpu and not installed("flash_attn") else "")
    else:
        if attention.startswith("flash_attention") and not installed("flash_attn"):
            raise ConfigError(
                f"train.attention: {attention} needs the flash-attn package",
                fix="pip install flash-attn --no-build-isolation (CUDA GPUs), or set train.attention: sdpa.",
            )
        reasons["attention"] = "set in the project"
    varlen = attention.startswith("flash_attention")

    padding_free = cfg.padding_free
    if padding_free == "auto":
        padding_free = varlen
        reasons["padding_free"] = (
            "examples concatenated for the varlen kernel: no padding computed"
            if varlen
            else "padded batches grouped by length: with SDPA a concatenated batch needs a (b*s)^2 block mask"
        )
    else:
        reasons["padding_free"] = "set in the project"

    liger = cfg.liger
    if liger == "auto":
        liger = gpu and installed("liger_kernel")
        if liger:
            reasons["liger"] = "liger-kernel is installed: fused RMSNorm, RoPE and SwiGLU"
        elif gpu:
            reasons["liger"] = "pip install liger-kernel for fused RMSNorm, RoPE and SwiGLU kernels"
        else:
            reasons["liger"] = "Liger's Triton kernels need a GPU"
    else:
        if liger and not (gpu and installed("liger_kernel")):
            raise ConfigError(
                "train.liger: true needs a CUDA GPU and the liger-kernel package",
                fix="pip install liger-kernel on a GPU machine, or set train.liger: auto.",
            )
        reasons["liger"] = "set in the project"

    checkpointing = cfg.activation_checkpointing
    if checkpointing == "auto":
        checkpointing, reasons["activation_checkpointing"] = decide_checkpointing(gpu, peak_bytes, device_bytes)
    else:
        reasons["activation_checkpointing"] = "set in the project"
    compiled = cfg.compile
    if compiled == "auto":
        compiled = False
        reasons["compile"] = (
            "off: not measured on a GPU yet; set train.compile: true to try it (the first steps compile)"
            if gpu
            else "off: on 2 CPU cores compiling took 310 s for 1.075x faster steps, paid back after ~800 steps"
        )
    else:
        reasons["compile"] = "set in the project" + (
            ": the decoder's training steps, dynamic shapes" if compiled else ""
        )
    return KernelPlan(attention, bool(padding_free), bool(liger), bool(checkpointing), bool(compiled), reasons)


def decide_checkpointing(gpu: bool, peak_bytes: Any, device_bytes: int | None) -> tuple[bool, str]:
    if not gpu or peak_bytes is None or not device_bytes:
        return False, "off: memory is not the limit on this device; recomputing costs ~1/3 more work per step"
    budget = FIT_SHARE * device_bytes
    without, with_ = peak_bytes(False), peak_bytes(True)
    gib = 2**30
    if without <= budget:
        return False, f"off: estimated {without / gib:.1f} GiB fits the GPU's {device_bytes / gib:.0f} GiB"
    if with_ <= budget:
        return True, (
            f"on: estimated {without / gib:.1f} GiB without it, {with_ / gib:.1f} GiB with it, "
            f"the GPU has {device_bytes / gib:.0f} GiB"
        )
    return True, (
        f"on, and still {with_ / gib:.1f} GiB against the GPU's {device_bytes / gib:.0f} GiB: lower "
        "train.micro_batch_size or train.max_length, or use sft-qlora"
    )


def device_memory(device: str) -> int | None:
    """Total memory of a CUDA device, else the machine's physical memory."""
    import os

    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.get_device_properties(torch.device(device)).total_memory)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None
