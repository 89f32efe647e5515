"""Hyperparameters chosen from data and model size, each with the reason it was chosen.

| setting | auto value | why |
| --- | --- | --- |
| epochs | 3, raised so examples x epochs >= 100 (max 25), lowered so it stays <= 25,000 (min 1) | OpenAI's fine-tuning defaults, as published in their data-preparation cookbook |
| learning_rate | by recipe and size: LoRA/DoRA/QLoRA 1e-3, 4e-4, 2e-4; full 5e-5, 2e-5, 1e-5; DPO/KTO 5e-5, 2e-5, 5e-6; reward 1e-4, 5e-5, 2e-5; RLHF 2e-5, 1e-5, 5e-6 (below 0.5B, below 3B, above) | adapters take larger steps than full fine-tuning, preference optimization smaller ones than SFT; 2e-4 is the QLoRA paper's setting for 7B+ |
| lora_alpha | 2 x rank | keeps the update scale stable as rank changes (common practice since the LoRA paper) |
| micro_batch_size | CPU: 1; GPU: min(batch_size, 8) | on CPU one sequence already fills the cores' matmuls (measured: within 4% of 8's tokens/s in 28% of the memory, no padding); GPUs need wider batches to be busy |
| save_steps / eval_steps | about 5 evaluations and checkpoints per run, at least every 10 steps; fewer (at least 2) where 5 evaluations would cost more than a tenth of the training | resumable, with a best checkpoint to choose, without spending a short run on evaluating |
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tunesmith.train.config import TrainConfig

TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MAX_DEFAULT_EPOCHS = 25

EVALUATIONS = 5
MIN_EVALUATIONS = 2  # the best checkpoint needs a choice
EVALUATION_SHARE = 0.1
# An evaluation's cost in trained examples' time: a validation example is a forward pass (about a third of
# a training pass); a sampled answer, decoded a token at a time, took about two training examples' time
# (the quick demo on 2 CPU cores: 4 answers of <= 128 tokens in 15-23 s, a step of 4 examples in 7-9 s).
FORWARD_SHARE = 1 / 3
SAMPLE_COST = 2.0


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


# Learning rates by recipe and model size (below 0.5B, below 3B, above). Adapters take larger steps than
# full fine-tuning; preference optimization far smaller ones than SFT (the DPO paper used 5e-7 for full
# fine-tuning; adapter DPO commonly runs at 5e-6 to 5e-5).
LEARNING_RATES: dict[str, tuple[float, float, float]] = {
    "sft-lora": (1e-3, 4e-4, 2e-4),
    "sft-dora": (1e-3, 4e-4, 2e-4),
    "sft-qlora": (1e-3, 4e-4, 2e-4),
    "sft-full": (5e-5, 2e-5, 1e-5),
    "dpo": (5e-5, 2e-5, 5e-6),
    "kto": (5e-5, 2e-5, 5e-6),
    "reward": (1e-4, 5e-5, 2e-5),
    "rlhf": (2e-5, 1e-5, 5e-6),
    # GRPO on an adapter: TRL's own examples use 1e-5 to 1e-6 with full weights; LoRA takes ~10x larger steps
    "grpo": (5e-5, 2e-5, 5e-6),
}


def auto_learning_rate(n_params: int, recipe: str = "sft-lora") -> tuple[float, str]:
    billions = n_params / 1e9
    small, medium, large = LEARNING_RATES[recipe]
    if billions < 0.5:
        return small, f"{recipe} on a {billions:.2f}B model: small models take larger steps"
    if billions < 3:
        return medium, f"{recipe} on a {billions:.1f}B model"
    return large, f"{recipe} on a {billions:.0f}B model"


def auto_micro_batch(batch_size: int, device: str, recipe: str = "sft-lora") -> tuple[int, str]:
    if recipe == "kto":
        # KTO estimates its KL reference point from mismatched completions inside one micro batch
        micro = max(2, min(batch_size, 8 if device != "cpu" else 2))
        return micro, f"KTO needs at least 2 examples per pass for its KL estimate: {micro}"
    if device == "cpu":
        # bench/train.py on the reference 2-core CPU: micro batch 1 ran at 230 tokens/s in 2.1 GiB,
        # micro batch 8 at 238 tokens/s in 7.5 GiB; single sequences also carry no padding
        return 1, "CPU: one sequence per pass runs within 4% of eight's speed in a quarter of the memory"
    micro = min(batch_size, 8)
    return micro, f"min(batch_size, 8) = {micro} on {device}"


def auto_evaluations(max_steps: int, batch_size: int, n_eval: int, samples: int) -> tuple[int, str]:
    """How many evaluations a run gets: 5, fewer (not below 2) where they would cost more than a tenth of the
    training. On the quick demo (56 steps of 4, 26 validation examples, 4 sampled answers) five took a third
    of the training stage."""
    if n_eval <= 0:
        return EVALUATIONS, "about 5 checkpoints per run"
    cost = n_eval * FORWARD_SHARE + samples * SAMPLE_COST
    trained = max_steps * batch_size
    affordable = int(EVALUATION_SHARE * trained / cost)
    if affordable >= EVALUATIONS:
        return EVALUATIONS, "about 5 evaluations and checkpoints per run"
    n = max(MIN_EVALUATIONS, affordable)
    return n, (
        f"{n} evaluations: each costs about {cost:.0f} trained examples' time ({n_eval} validation examples, "
        f"{samples} sampled answers), and 5 would be more than a tenth of the {trained} trained"
    )


def resolve(
    cfg: TrainConfig,
    *,
    n_examples: int,
    n_params: int,
    device: str = "cpu",
    n_eval: int = 0,
    eval_samples: int = 0,
) -> Hyperparameters:
    """The run's hyperparameters; ``n_eval`` validation examples and ``eval_samples`` answers generated at each
    evaluation size the auto evaluation interval (0: only the number of steps does)."""
    reasons: dict[str, str] = {}
    if cfg.epochs == "auto":
        epochs, reasons["epochs"] = auto_epochs(n_examples)
    else:
        epochs, reasons["epochs"] = float(cfg.epochs), "set in the project"
    if cfg.learning_rate == "auto":
        lr, reasons["learning_rate"] = auto_learning_rate(n_params, cfg.recipe)
    else:
        lr, reasons["learning_rate"] = float(cfg.learning_rate), "set in the project"
    if cfg.learning_rate_multiplier != 1.0:
        lr *= cfg.learning_rate_multiplier
        reasons["learning_rate"] += f", times learning_rate_multiplier {cfg.learning_rate_multiplier:g}"
    if cfg.micro_batch_size == "auto":
        micro, reasons["micro_batch_size"] = auto_micro_batch(cfg.batch_size, device.split(":")[0], cfg.recipe)
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
        evaluations, reasons["save_steps"] = auto_evaluations(
            max_steps, micro * accumulation, n_eval if cfg.eval_steps == "auto" else 0, eval_samples
        )
        save = max(10, math.ceil(max_steps / evaluations))
    else:
        save = cfg.save_steps
    evals = save if cfg.eval_steps == "auto" else cfg.eval_steps
    if cfg.keep == "best" and save % evals:
        # the best checkpoint can only be kept if one is saved at every evaluation's step
        if cfg.save_steps != "auto":
            from tunesmith.core.errors import ConfigError

            raise ConfigError(
                f"train.keep: best keeps the checkpoint with the lowest validation loss, so checkpoints must be "
                f"saved where validation loss is measured: save_steps {save} is not a multiple of eval_steps {evals}",
                where="train.save_steps",
                fix=f"Set save_steps to a multiple of {evals}, or train.keep: last.",
            )
        save = evals * max(1, round(save / evals))
        reasons["save_steps"] += f", a multiple of eval_steps {evals} (to keep the best checkpoint)"
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
