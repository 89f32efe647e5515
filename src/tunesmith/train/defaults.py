"""Hyperparameters chosen from data and model size, each with the reason it was chosen.

| setting | auto value | why |
| --- | --- | --- |
| epochs | 3, raised so examples x epochs >= 100 (max 25), lowered so it stays <= 25,000 (min 1) | OpenAI's fine-tuning defaults, as published in their data-preparation cookbook |
| learning_rate (LoRA) | 1e-3 below 0.5B parameters, 4e-4 below 3B, 2e-4 above | small models need larger LoRA steps; 2e-4 is the QLoRA paper's setting for 7B+ |
| lora_alpha | 2 x rank | keeps the update scale stable as rank changes (common practice since the LoRA paper) |
| micro_batch_size | min(batch_size, 8) | enough to keep 2 CPU cores busy without large padded batches |
| save_steps / eval_steps | about 5 checkpoints per run, at least every 10 steps | resumable without spending the run on saving |
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tunesmith.train.config import TrainConfig

TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MAX_DEFAULT_EPOCHS = 25


@dataclass
class Hyperparameters:
    epochs: float
    max_steps: int
    learning_rate: float
    batch_size: int
    micro_batch_size: int
    grad_accumulation: int
    lora_r: int
    lora_alpha: int
    save_steps: int
    eval_steps: int
    reasons: dict[str, str] = field(default_factory=dict)


def auto_epochs(n_examples: int) -> tuple[float, str]:
    epochs = TARGET_EPOCHS
    if n_examples * epochs < MIN_TARGET_EXAMPLES:
        epochs = min(MAX_DEFAULT_EPOCHS, math.ceil(MIN_TARGET_EXAMPLES / n_examples))
        return epochs, f"{n_examples} examples: raised to {epochs} so examples x epochs >= {MIN_TARGET_EXAMPLES}"
    if n_examples * epochs > MAX_TARGET_EXAMPLES:
        epochs = max(1, MAX_TARGET_EXAMPLES // n_examples)
        return epochs, f"{n_examples} examples: lowered to {epochs} so examples x epochs <= {MAX_TARGET_EXAMPLES}"
    return epochs, f"{n_examples} examples: the default {TARGET_EPOCHS} passes"


def auto_learning_rate(n_params: int) -> tuple[float, str]:
    billions = n_params / 1e9
    if billions < 0.5:
        return 1e-3, f"LoRA on a {billions:.2f}B model: small models take larger adapter steps"
    if billions < 3:
        return 4e-4, f"LoRA on a {billions:.1f}B model"
    return 2e-4, f"LoRA on a {billions:.0f}B model (QLoRA paper setting)"


def resolve(cfg: TrainConfig, *, n_examples: int, n_params: int) -> Hyperparameters:
    reasons: dict[str, str] = {}
    if cfg.epochs == "auto":
        epochs, reasons["epochs"] = auto_epochs(n_examples)
    else:
        epochs, reasons["epochs"] = float(cfg.epochs), "set in the project"
    if cfg.learning_rate == "auto":
        lr, reasons["learning_rate"] = auto_learning_rate(n_params)
    else:
        lr, reasons["learning_rate"] = float(cfg.learning_rate), "set in the project"
    if cfg.micro_batch_size == "auto":
        micro = min(cfg.batch_size, 8)
        reasons["micro_batch_size"] = f"min(batch_size, 8) = {micro}"
    else:
        micro = min(cfg.micro_batch_size, cfg.batch_size)
        reasons["micro_batch_size"] = "set in the project"
    accumulation = max(1, math.ceil(cfg.batch_size / micro))
    steps_per_epoch = max(1, math.ceil(n_examples / (micro * accumulation)))
    if cfg.max_steps:
        max_steps = cfg.max_steps
        reasons["max_steps"] = "set in the project (overrides epochs)"
    else:
        max_steps = max(1, math.ceil(steps_per_epoch * epochs))
        reasons["max_steps"] = f"{steps_per_epoch} steps per epoch x {epochs:g} epochs"
    if cfg.lora_alpha == "auto":
        alpha = 2 * cfg.lora_r
        reasons["lora_alpha"] = f"2 x rank {cfg.lora_r}"
    else:
        alpha = cfg.lora_alpha
    if cfg.save_steps == "auto":
        save = max(10, math.ceil(max_steps / 5))
        reasons["save_steps"] = "about 5 checkpoints per run"
    else:
        save = cfg.save_steps
    evals = save if cfg.eval_steps == "auto" else cfg.eval_steps
    return Hyperparameters(
        epochs=epochs,
        max_steps=max_steps,
        learning_rate=lr,
        batch_size=micro * accumulation,
        micro_batch_size=micro,
        grad_accumulation=accumulation,
        lora_r=cfg.lora_r,
        lora_alpha=alpha,
        save_steps=save,
        eval_steps=evals,
        reasons=reasons,
    )
