"""How long a training run will take and how much memory it will need, before it starts.

Time: FLOPs per trained-pass token (2N forward + 2N backward through the
activations for adapters, +2N for weight gradients in full fine-tuning; Kaplan
et al. 2020, sec. 2.1) divided by this machine's measured matmul rate times the
share of it our trainer reaches (0.6, measured on the reference 2-core CPU with
bench/train.py; GPUs are given 0.4 until measured).

Memory: weights (half a byte per parameter in 4-bit for QLoRA), trainable
parameters' gradients and AdamW moments, activations per layer (Korthikanti et
al. 2022, "Reducing Activation Recomputation", eq. 1: about s*b*h*(34 + 5*a*s/h)
bytes in 16-bit, doubled in fp32; with activation checkpointing only each
layer's input is kept, plus one layer's worth during recomputation), and the
vocabulary logits of the trained positions. Measured on the reference CPU
(LoRA, SmolLM2-135M, ~300-token examples, micro batches 1, 2, 4 and 8: 1.73,
2.41, 4.28 and 7.34 GiB peak RSS), PyTorch's CPU autograd keeps 1.25x that
activation figure; ACTIVATION_FACTOR carries the measurement.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from tunesmith.core.atomic import atomic_write_json
from tunesmith.core.paths import cache_dir

EFFICIENCY = {"cpu": 0.6, "cuda": 0.4, "mps": 0.3}
ACTIVATION_FACTOR = 1.25
RECOMPUTE_SLOWDOWN = 0.75  # checkpointing recomputes the forward pass: ~1/3 more work per step


@dataclass
class Estimate:
    seconds: float
    tokens_per_s: float
    peak_bytes: int
    breakdown: dict[str, int]
    machine_gflops: float
    assumptions: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def machine_gflops(device: str = "cpu", dtype: Any = None) -> float:
    """Measured fp32 (or ``dtype``) matmul rate of this device, cached per device kind."""
    import torch

    dtype = dtype or torch.float32
    key = f"{device}-{str(dtype).replace('torch.', '')}-{torch.get_num_threads()}"
    cache = cache_dir() / "machine.json"
    known = json.loads(cache.read_text()) if cache.exists() else {}
    if key in known:
        return float(known[key])
    n = 2048 if device == "cpu" else 8192
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    repeats = 4
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    gflops = 2 * n**3 * repeats / (time.perf_counter() - started) / 1e9
    known[key] = round(gflops, 1)
    atomic_write_json(cache, known)
    return gflops


def estimate(
    *,
    n_params: int,
    trainable_params: int,
    full: bool,
    tokens: int,
    trained_tokens: int,
    layers: int,
    hidden: int,
    heads: int,
    vocab: int,
    micro_batch: int,
    seq_len: int,
    bytes_per_value: int,
    device: str = "cpu",
    gflops: float | None = None,
    quantized: bool = False,
    checkpointing: bool = False,
    attention_scores: bool = True,
) -> Estimate:
    """``tokens``: all tokens the run processes (examples x epochs); ``trained_tokens``: those with loss."""
    rate = gflops if gflops is not None else machine_gflops(device)
    flops_per_token = (6 if full else 4) * n_params
    tokens_per_s = EFFICIENCY.get(device.split(":")[0], 0.4) * rate * 1e9 / flops_per_token
    if checkpointing:
        tokens_per_s *= RECOMPUTE_SLOWDOWN
    seconds = tokens / tokens_per_s
    s, b, h, a = seq_len, micro_batch, hidden, heads
    # the 5as/h term is the attention score matrices, which fused kernels (flash, memory-efficient) never hold
    scores = 5 * a * s / h if attention_scores else 0.0
    per_layer = s * b * h * (34 + scores) * bytes_per_value / 2 * ACTIVATION_FACTOR
    if checkpointing:
        activations = int(layers * s * b * h * bytes_per_value + per_layer)
    else:
        activations = int(layers * per_layer)
    trained_per_batch = min(trained_tokens, b * s)
    logits = int(2 * trained_per_batch * vocab * 4)  # logits and their gradient, fp32
    weights = int(n_params * (0.5 if quantized else bytes_per_value))
    optimizer = trainable_params * 4 * 3  # gradient + two AdamW moments, fp32
    runtime = 400 * 2**20  # Python, torch and tokenizer baseline resident memory (measured ~400 MiB)
    breakdown = {
        "weights": weights,
        "optimizer": optimizer,
        "activations": activations,
        "logits": logits,
        "runtime": runtime,
    }
    return Estimate(
        seconds=seconds,
        tokens_per_s=tokens_per_s,
        peak_bytes=sum(breakdown.values()),
        breakdown=breakdown,
        machine_gflops=round(rate, 1),
        assumptions=f"{flops_per_token / n_params:.0f} x params FLOPs/token at {EFFICIENCY.get(device, 0.4):.0%} "
        f"of {rate:.0f} GFLOP/s",
    )


def count_parameters(config: Any) -> int:
    """Parameters of a decoder-only transformer from its config, without building it."""
    h, layers, vocab = config.hidden_size, config.num_hidden_layers, config.vocab_size
    inter = getattr(config, "intermediate_size", 4 * h)
    kv = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or h // config.num_attention_heads
    attention = 2 * h * config.num_attention_heads * head_dim + 2 * h * kv * head_dim
    mlp = 3 * h * inter
    embeddings = vocab * h * (1 if getattr(config, "tie_word_embeddings", False) else 2)
    return layers * (attention + mlp + 2 * h) + embeddings + h


def estimate_run(
    cfg: Any,
    ref: Any,
    base_dir: Any,
    lengths: list[int],
    trained: list[int],
    *,
    micro_batch: int | None = None,
    checkpointing: bool | None = None,
) -> dict[str, Any]:
    """The estimate for training ``cfg`` (a TrainConfig) on examples of these token lengths."""
    from transformers import AutoConfig

    from tunesmith.models.device import pick_device, pick_dtype
    from tunesmith.models.resolve import local_path
    from tunesmith.train import defaults

    config = AutoConfig.from_pretrained(local_path(ref, base_dir))
    n_params = count_parameters(config)
    device = pick_device(ref.device)
    hp = defaults.resolve(cfg, n_examples=len(lengths), n_params=n_params, device=device)
    micro = micro_batch or hp.micro_batch_size
    hidden, layers = config.hidden_size, config.num_hidden_layers
    inter = getattr(config, "intermediate_size", 4 * hidden)
    full = cfg.recipe == "sft-full"
    # all-linear LoRA: r x (in + out) per adapted matrix, 4 attention + 3 MLP matrices per layer
    trainable = n_params if full else layers * hp.lora_r * (4 * 2 * hidden + 3 * (hidden + inter))
    if cfg.recipe == "sft-dora":
        trainable += layers * (4 * hidden + 3 * (hidden + inter))  # DoRA's magnitude vectors
    from tunesmith.train import kernels

    dtype = pick_dtype(device, ref.dtype)
    steps_per_epoch = max(1, -(-len(lengths) // hp.batch_size))
    tokens = int(sum(lengths) * hp.max_steps / steps_per_epoch)
    gpu = device.startswith("cuda")
    chosen = kernels.plan(cfg, device=device, half_precision=dtype.itemsize == 2)

    def run_estimate(checkpointing: bool) -> Estimate:
        return estimate(
            n_params=n_params,
            trainable_params=trainable,
            full=full,
            tokens=tokens,
            trained_tokens=int(sum(trained) / len(trained) * micro),
            layers=layers,
            hidden=hidden,
            heads=config.num_attention_heads,
            vocab=config.vocab_size,
            micro_batch=micro,
            # padding-free: a micro batch holds its examples' tokens; padded: each is as long as the longest
            seq_len=round(sum(lengths) / len(lengths)) if chosen.padding_free else max(lengths),
            bytes_per_value=dtype.itemsize,
            device=device,
            quantized=cfg.recipe == "sft-qlora",
            checkpointing=checkpointing,
            # the CPU calibration (ACTIVATION_FACTOR) was measured with the score term; GPU kernels drop it
            attention_scores=not gpu or chosen.attention == "eager",
        )

    memory = kernels.device_memory(device)
    reason = "set in the project"
    if checkpointing is None:
        if cfg.activation_checkpointing == "auto":
            checkpointing, reason = kernels.decide_checkpointing(
                gpu, lambda on: run_estimate(on).peak_bytes, memory if gpu else None
            )
        else:
            checkpointing = cfg.activation_checkpointing is True
    result = run_estimate(checkpointing)
    return {
        "minutes": result.seconds / 60,
        "tokens_per_s": result.tokens_per_s,
        "peak_gib": result.peak_bytes / 2**30,
        "peak_bytes": result.peak_bytes,
        "breakdown": result.breakdown,
        "assumptions": result.assumptions,
        "steps": hp.max_steps,
        "epochs": hp.epochs,
        "learning_rate": hp.learning_rate,
        "lora_r": hp.lora_r,
        "parameters": n_params,
        "micro_batch_size": micro,
        "activation_checkpointing": checkpointing,
        "grad_accumulation": max(1, -(-hp.batch_size // micro)),
        "device": device,
        "device_memory_gib": memory / 2**30 if memory else None,
        "fits": memory is None or result.peak_bytes <= kernels.FIT_SHARE * memory,
        "kernels": {
            "attention": chosen.attention,
            "padding_free": chosen.padding_free,
            "liger": chosen.liger,
            "activation_checkpointing": checkpointing,
            "reasons": {**chosen.reasons, "activation_checkpointing": reason},
        },
    }


def fit_memory(
    budget_bytes: int, cfg: Any, ref: Any, base_dir: Any, lengths: list[int], trained: list[int]
) -> dict[str, Any] | None:
    """The fastest (micro batch, checkpointing) whose estimate fits the budget; None when nothing fits."""
    options = []
    for micro in (8, 4, 2, 1):
        if micro > cfg.batch_size:
            continue
        for checkpointing in (False, True):
            found = estimate_run(cfg, ref, base_dir, lengths, trained, micro_batch=micro, checkpointing=checkpointing)
            if found["peak_bytes"] <= budget_bytes:
                options.append(found)
    return max(options, key=lambda e: (e["tokens_per_s"], e["micro_batch_size"])) if options else None


def parse_size(text: str) -> int:
    """'8GiB', '512MiB', '8GB', '8G' -> bytes."""
    import re

    match = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?)(i?B?)\s*", text, flags=re.IGNORECASE)
    if not match:
        raise ValueError(f"not a size: {text!r} (e.g. 8GiB)")
    number, unit, binary = float(match.group(1)), match.group(2).upper(), match.group(3).lower().startswith("i")
    power = " KMGT".index(unit or " ")
    return int(number * (1024 if binary or not match.group(3) else 1000) ** power)
