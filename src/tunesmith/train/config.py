"""The training stage's settings. `auto` values are chosen from data and model size (see train/defaults.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tunesmith.core.schema import StrictModel

Recipe = Literal["sft-lora", "sft-dora", "sft-qlora", "sft-full", "dpo", "kto", "reward", "rlhf"]
SFT_RECIPES = ("sft-lora", "sft-dora", "sft-qlora", "sft-full")
PREFERENCE_RECIPES = ("dpo", "kto", "reward")


class TrainConfig(StrictModel):
    """Fine-tuning recipe and hyperparameters; every `auto` is printed with the reason for its value."""

    recipe: Recipe = "sft-lora"
    """`sft-lora`, `sft-dora`, `sft-qlora` (4-bit NF4 base + LoRA), `sft-full` (all weights); `dpo` and `kto`
    on preference pairs; `reward` (a reward model on preference pairs) and `rlhf` (RLOO against it, KL-penalized)."""
    epochs: float | Literal["auto"] = "auto"
    """Passes over the training data."""
    max_steps: int | None = Field(None, ge=1)
    """Stop after this many optimizer steps (overrides epochs)."""
    learning_rate: float | Literal["auto"] = "auto"
    """Peak learning rate."""
    learning_rate_multiplier: float = Field(1.0, gt=0, le=100)
    """Scales the learning rate (auto or set), as OpenAI's fine-tuning API does."""
    batch_size: int = Field(8, ge=1)
    """Examples per optimizer step (micro batches x gradient accumulation)."""
    micro_batch_size: int | Literal["auto"] = "auto"
    """Examples per forward pass; smaller uses less memory."""
    max_length: int = Field(1024, ge=16)
    """Longest example in tokens; longer ones are skipped and listed in skipped.jsonl."""
    lora_r: int = Field(16, ge=1)
    """LoRA rank."""
    lora_alpha: int | Literal["auto"] = "auto"
    """LoRA scaling numerator (auto: 2 x rank)."""
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    """Dropout on the LoRA branch. 0 by default: it costs ~17% of step time on CPU (a copy of every
    adapted layer's input) and short fine-tunes rarely need it; try 0.05 on small, repetitive data."""
    target_modules: str | list[str] = "all-linear"
    """Modules that get adapters: `all-linear` or a list of module names."""
    warmup: float = Field(0.05, ge=0)
    """Linear warmup: a fraction of the steps when below 1, else a number of steps."""
    scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "cosine"
    """Learning-rate schedule after warmup."""
    weight_decay: float = Field(0.0, ge=0)
    """AdamW weight decay."""
    save_steps: int | Literal["auto"] = "auto"
    """Steps between checkpoints (auto: about five per run)."""
    eval_steps: int | Literal["auto"] = "auto"
    """Steps between validation-loss measurements (auto: same as save_steps)."""
    seed: int = 42
    """Seed for adapter initialisation, data order and dropout."""
    activation_checkpointing: bool | Literal["auto"] = "auto"
    """Recompute activations in backward to save memory (auto: off, or on when --fit-memory needs it)."""
    beta: float = Field(0.1, gt=0)
    """dpo/kto: how strongly the policy is held to the reference; rlhf: the KL penalty coefficient."""
    early_stopping_patience: int | None = Field(None, ge=1)
    """Stop when validation loss has not improved for this many evaluations (keeps the best checkpoint)."""
    eval_generations: int = Field(0, ge=0)
    """At each evaluation, generate answers for this many validation examples and log their ROUGE-L."""
    stop_check: int = Field(4, ge=0)
    """After training, check on this many validation prompts that the model ends its answers by itself."""
    report_to: list[Literal["mlflow", "tensorboard"]] = Field(default_factory=list)
    """Also log to these trackers (MLflow reads MLFLOW_TRACKING_URI; default ./mlruns)."""
    init_from: str | None = None
    """dpo/kto/rlhf: continue the adapter of this training run (e.g. preferences after SFT)."""
    reward_run: str | None = None
    """rlhf: the reward-model run to optimize against (default: the latest `reward` run)."""
    rlhf_generations: int = Field(4, ge=2)
    """rlhf: completions sampled per prompt (RLOO's leave-one-out baseline needs at least 2)."""
    rlhf_max_new_tokens: int = Field(96, ge=8)
    """rlhf: longest sampled completion."""
