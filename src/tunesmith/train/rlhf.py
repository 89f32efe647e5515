"""`rlhf`: optimize the policy against a trained reward model with RLOO (Ahmadian et al. 2024), KL-penalized.

RLOO samples k completions per prompt and uses the mean reward of the other
k-1 as each one's baseline, so it needs no value model (half PPO's memory) and
TRL ships it as a stable trainer. The KL penalty to the reference policy (the
base model, or the SFT adapter's starting point) is `train.beta`. Prompts are
the training split's user turns; the reward model is the latest `reward` run
(or `train.reward_run`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesmith.core.deps import require
from tunesmith.core.jsonl import read_jsonl
from tunesmith.core.rundir import RunDir
from tunesmith.models.spec import LocalModelRef
from tunesmith.train import defaults
from tunesmith.train.config import TrainConfig
from tunesmith.train.layout import CHECKPOINTS_DIR
from tunesmith.train.preference import _policy, load_reward_model, policy_lora
from tunesmith.train.sft import TrainResult, announce, fit, save_trained, stop_check


def run(
    cfg: TrainConfig,
    *,
    base: LocalModelRef,
    data_dir: Path,
    project_dir: Path,
    run_dir: RunDir,
    resume: bool = False,
    callbacks: list[Any] | None = None,
) -> TrainResult:
    transformers = require("transformers")
    trl = require("trl")
    datasets = require("datasets")
    from tunesmith.registry.runs import resolve_run

    reward_run = resolve_run(project_dir, cfg.reward_run, "train") if cfg.reward_run else _latest_reward(project_dir)
    reward_model, reward_tokenizer = load_reward_model(reward_run, base, project_dir)
    records = read_jsonl(data_dir / "train.jsonl")
    prompts = [{"prompt": [m for m in r["messages"] if m["role"] != "assistant"]} for r in records]
    transformers.set_seed(cfg.seed)
    model, tokenizer, base_path = _policy(cfg, base, project_dir)
    tokenizer.padding_side = "left"  # generation pads on the left
    n_params = sum(p.numel() for p in model.parameters())
    hp = defaults.resolve(cfg, n_examples=len(prompts), n_params=n_params, device=next(model.parameters()).device.type)
    announce(hp, run_dir, prompts=len(prompts), n_params=n_params, reward_run=reward_run.id)
    args = _rloo_args(trl, cfg, hp, run_dir)
    peft_config = policy_lora(model, hp, cfg)
    trainer = trl.RLOOTrainer(
        model=model,
        reward_funcs=reward_model,
        args=args,
        train_dataset=datasets.Dataset.from_list(prompts),
        processing_class=tokenizer,
        reward_processing_classes=reward_tokenizer,
        peft_config=peft_config,
    )
    fit(
        trainer,
        cfg,
        run_dir,
        f"RLHF (RLOO, k={cfg.rlhf_generations}) on {len(prompts)} prompts",
        has_eval=False,
        resume=resume,
        extra_callbacks=callbacks,
    )
    output = save_trained(
        trainer.model,
        tokenizer,
        run_dir,
        base,
        "rlhf",
        base_path,
        extra={"reward_run": reward_run.id, "init_from": cfg.init_from},
    )
    tokenizer.padding_side = "right"
    stop_rate = stop_check(trainer.model, tokenizer, records, base.display_name, n=cfg.stop_check)
    return _result(run_dir, output, hp, stop_rate, reward_run.id)


def group_batches(batch_size: int, micro_batch_size: int, generations: int) -> tuple[int, int]:
    """(completions per device pass, accumulation steps) for a trainer that samples ``generations`` completions
    per prompt: a pass holds whole groups, and a step holds ``batch_size`` completions (rounded up to whole
    groups), not ``batch_size`` micro batches of groups."""
    per_device = max(generations, micro_batch_size - micro_batch_size % generations)
    return per_device, max(1, -(-batch_size // per_device))


def sampling_args(
    cfg: TrainConfig, hp: Any, run_dir: RunDir, *, generations: int, max_new_tokens: int, temperature: float
) -> dict[str, Any]:
    """The settings TRL's sampling trainers (RLOO, GRPO) share, from the resolved hyperparameters."""
    per_device, accumulation = group_batches(cfg.batch_size, hp.micro_batch_size, generations)
    return {
        "output_dir": str(run_dir.path(CHECKPOINTS_DIR)),
        "max_steps": hp.max_steps,
        "learning_rate": hp.learning_rate,
        "per_device_train_batch_size": per_device,
        "gradient_accumulation_steps": accumulation,
        "num_generations": generations,
        "max_completion_length": max_new_tokens,
        "temperature": temperature,
        "beta": cfg.beta,  # > 0 keeps the reference in the loss, so the KL is measured and logged
        "logging_steps": 1,
        "save_steps": hp.save_steps,
        "save_total_limit": 2,
        "seed": cfg.seed,
        "report_to": list(cfg.report_to),
        "disable_tqdm": True,
        "bf16": False,
        "fp16": False,
        "activation_checkpointing": cfg.activation_checkpointing is True,
        "lr_scheduler_type": cfg.scheduler,
        "warmup_steps": cfg.warmup,
    }


def _rloo_args(trl: Any, cfg: TrainConfig, hp: Any, run_dir: RunDir) -> Any:
    """TRL's RLOO settings from the resolved hyperparameters."""
    return trl.RLOOConfig(
        **sampling_args(
            cfg, hp, run_dir, generations=cfg.rlhf_generations, max_new_tokens=cfg.rlhf_max_new_tokens, temperature=1.0
        )
    )


def _result(run_dir: RunDir, output: Path, hp: Any, stop_rate: float, reward_run: str) -> TrainResult:
    """The run's result, with the reward at its first and last logged step."""
    history = run_dir.metrics()
    rewards = [m[k] for m in history for k in ("reward", "rewards/mean") if k in m]
    losses = [m["loss"] for m in history if "loss" in m]
    return TrainResult(
        run_dir,
        output,
        losses[-1] if losses else None,
        None,
        stop_rate,
        {k: v for k, v in vars(hp).items() if k != "reasons"},
        {
            "reward_run": reward_run,
            "first_reward": rewards[0] if rewards else None,
            "last_reward": rewards[-1] if rewards else None,
        },
    )


def _latest_reward(project_dir: Path) -> RunDir:
    from tunesmith.core.errors import StageError
    from tunesmith.registry.runs import list_runs

    runs = [
        r
        for r in list_runs(project_dir, "train")
        if r.status == "succeeded" and r.info.get("summary", {}).get("recipe") == "reward"
    ]
    if not runs:
        raise StageError(
            "rlhf optimizes against a reward model, and there is none",
            fix="Train one first: tunesmith train --recipe reward (needs preference pairs).",
        )
    return runs[-1]
