"""The training stage's settings. `auto` values are chosen from data and model size (see train/defaults.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from tunesmith.core.schema import StrictModel

Recipe = Literal["sft-lora", "sft-dora", "sft-qlora", "sft-full", "dpo", "kto", "reward", "rlhf", "grpo"]
SFT_RECIPES = ("sft-lora", "sft-dora", "sft-qlora", "sft-full")
PREFERENCE_RECIPES = ("dpo", "kto", "reward")


class ReplayConfig(StrictModel):
    """The base model's own answers to general prompts, mixed into SFT so general skills hold (train/replay.py)."""

    ratio: float | Literal["auto"] = "auto"
    """Replay examples per task training example (0 turns replay off); `auto`: 0.25, at least 16 examples."""
    prompts: str | None = None
    """Your own general prompts (JSONL with `prompt`, or one per line), relative to the project; tunesmith's
    380 (arithmetic, facts, writing, reasoning, instructions, conversation) when unset. Prompts that duplicate a
    retention-probe prompt are dropped."""
    max_new_tokens: int = Field(160, ge=16, le=4096)
    """Longest base-model answer; answers not finished within it are left out."""
    avoid_similarity: float = Field(0.4, ge=-1, le=1)
    """Replay prompts this similar (cosine) to a request the training data declines are left out: replaying
    the base model answering "write me a poem" would teach the fine-tune to answer what it should decline."""

    @field_validator("ratio")
    @classmethod
    def _ratio_range(cls, value: Any) -> Any:
        if value != "auto" and not 0 <= float(value) <= 4:
            raise ValueError("the replay ratio is between 0 and 4 replay examples per task example")
        return value


class RewardSpec(StrictModel):
    """One GRPO reward, weighted. Built from what the project declares (tunesmith/rewards.py)."""

    kind: Literal["style", "format", "json_schema", "similarity", "rouge", "grounded", "refusal", "judge", "python"]
    """`style` (eval.style rules met), `format` (eval.format.regex), `json_schema` (eval.format.json_schema),
    `similarity` (embedding cosine to the golden output), `rouge` (ROUGE-L to it), `grounded` (share of
    sentences supported by the knowledge-base points in the prompt), `refusal` (declines exactly what the golden
    output declines), `judge` (eval.judge's grade; only once `tunesmith judge check` trusts it), `python`."""
    weight: float = Field(1.0, ge=0)
    """Weight in the total reward (TRL sums the weighted rewards)."""
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,40}$")
    """Name in the logs and curves (default: the kind)."""
    function: str | None = None
    """`python`: an entry point of the `tunesmith.rewards` group, or `file.py:function` inside the project,
    called as fn(prompts=[str], completions=[str], references=[str]) -> [float | None]."""


class GrpoConfig(StrictModel):
    """`grpo`: group-relative policy optimization (Shao et al. 2024) on TRL's GRPOTrainer with the project's rewards."""

    rewards: list[RewardSpec] = Field(
        default_factory=lambda: [RewardSpec(kind="style"), RewardSpec(kind="rouge", weight=0.5)], min_length=1
    )
    """The rewards and their weights; prompts are the data build's train split."""
    generations: int = Field(4, ge=2, le=64)
    """Completions sampled per prompt (the group whose mean reward is each one's baseline)."""
    max_new_tokens: int = Field(160, ge=8, le=4096)
    """Longest sampled completion: room for a whole answer (a cut-off answer misses its closing rules)."""
    mask_truncated: bool = True
    """Leave completions cut off at `max_new_tokens` out of the loss (DAPO, Yu et al. 2025): their rewards judge
    an unfinished answer, and would teach the policy to end early rather than well."""
    temperature: float = Field(1.0, gt=0, le=2)
    """Sampling temperature of the completions."""
    max_kl: float | None = Field(0.5, gt=0)
    """Stop when the KL to the reference model stays above this for `patience` logged steps (null: never)."""
    collapse: float | None = Field(0.3, gt=0)
    """Stop when the mean reward (over `patience` logged steps) falls this far below its best (null: never)."""
    patience: int = Field(3, ge=1)
    """Logged steps a runaway KL or a reward collapse must last before training stops."""


class TrainConfig(StrictModel):
    """Fine-tuning recipe and hyperparameters; every `auto` is printed with the reason for its value."""

    recipe: Recipe = "sft-lora"
    """`sft-lora`, `sft-dora`, `sft-qlora` (4-bit NF4 base + LoRA), `sft-full` (all weights); `dpo` and `kto`
    on preference pairs; `reward` (a reward model on preference pairs) and `rlhf` (RLOO against it, KL-penalized);
    `grpo` (GRPO with the project's own rewards, see `grpo`)."""
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
    """Recompute activations in backward to save memory (auto: on a GPU when the memory estimate does not fit
    without it, or when --fit-memory needs it; off on a CPU)."""
    attention: Literal["auto", "sdpa", "eager", "flash_attention_2", "flash_attention_3"] = "auto"
    """Attention kernel (auto: FlashAttention-2 on a CUDA GPU where flash-attn is installed, else SDPA)."""
    padding_free: bool | Literal["auto"] = "auto"
    """Concatenate a micro batch's examples instead of padding them (auto: with a varlen attention kernel)."""
    liger: bool | Literal["auto"] = "auto"
    """Liger's fused Triton kernels (auto: on a CUDA GPU where liger-kernel is installed)."""
    compile: bool | Literal["auto"] = "auto"
    """SFT recipes: run the decoder's training steps through torch.compile (dynamic shapes; the first steps
    compile). auto: off; on a 2-core CPU compiling took 5 minutes and paid back after about 800 steps
    (bench/compile.py); on a GPU, measure it with true."""
    beta: float = Field(0.1, gt=0)
    """dpo/kto: how strongly the policy is held to the reference; rlhf: the KL penalty coefficient."""
    replay: ReplayConfig | None = Field(default_factory=ReplayConfig)
    """SFT recipes: self-distillation replay of the base model's answers to general prompts (a number is the
    ratio; null turns it off)."""
    keep: Literal["best", "last"] = "best"
    """Which weights the run keeps: `best`, the checkpoint with the lowest validation loss (the run says which
    and why); `last`, the final step's. Without a validation split, always the last."""
    early_stopping_patience: int | None = Field(None, ge=1)
    """Stop when validation loss has not improved for this many evaluations (keeps the best checkpoint)."""
    eval_generations: int | Literal["auto"] = "auto"
    """At each evaluation, generate answers for this many validation examples and log their ROUGE-L and how
    many stop by themselves (auto: 4 when keeping the best checkpoint, else 0)."""
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
    grpo: GrpoConfig = Field(default_factory=GrpoConfig)
    """grpo: rewards, group size, sampling and early stopping (train.beta is the KL coefficient)."""

    @field_validator("replay", mode="before")
    @classmethod
    def _replay_shorthand(cls, value: Any) -> Any:
        # `replay: 0.3` (or a tuning trial's sampled ratio) means `replay: {ratio: 0.3}`
        if isinstance(value, int | float) and not isinstance(value, bool) or value == "auto":
            return {"ratio": value}
        return value
