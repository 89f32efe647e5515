"""`grpo`: group-relative policy optimization (Shao et al. 2024, DeepSeekMath) with the project's own rewards.

For each training prompt GRPO samples a group of completions, scores each with
the weighted rewards (tunesmith/rewards.py, built by the pipeline: the evaluation's metrics, refusal,
user functions), and pushes the policy toward completions that beat their
group's mean: no value model and no learned reward model. The KL to the
reference (the policy's starting point: the base, or the SFT adapter named by
``train.init_from``) is penalized by ``train.beta`` and logged at every step
with each reward's mean, so the run's curves show what it traded for what.
Training stops early when the KL runs away or the reward collapses
(``train.grpo.max_kl`` / ``collapse``), keeping the last good checkpoint's
adapter rather than a policy that has drifted off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesmith.core.deps import require
from tunesmith.core.jsonl import read_jsonl
from tunesmith.core.progress import note
from tunesmith.core.rundir import RunDir
from tunesmith.data.refusals import declines
from tunesmith.models.spec import LocalModelRef
from tunesmith.train import defaults
from tunesmith.train.config import GrpoConfig, TrainConfig
from tunesmith.train.preference import _policy, policy_lora
from tunesmith.train.rlhf import sampling_args
from tunesmith.train.sft import TrainResult, announce, fit, save_trained, stop_check


def prompts_of(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """GRPO's dataset from the data build's train split: the prompt (every turn before the answer) and the
    columns the rewards read: the golden output, the user's input, the knowledge-base points the prompt showed,
    and whether the golden output declines the request."""
    rows = []
    for record in records:
        messages = record["messages"]
        meta = record.get("meta", {})
        reference = meta.get("output") or messages[-1]["content"]
        shown = (meta.get("context") or {}).get("retrieval_used", bool(meta.get("points")))
        rows.append(
            {
                "prompt": [m for m in messages[:-1]],
                "reference": reference,
                "input": meta.get("input")
                or next((m["content"] for m in reversed(messages[:-1]) if m["role"] == "user"), ""),
                "points": [p["text"] for p in meta.get("points", [])] if shown else [],
                "declines": declines(reference) is not None,
            }
        )
    return rows


class Guard:
    """Stops training on a runaway KL or a collapsing reward, each sustained for ``patience`` logged steps.

    Kept free of transformers so it is tested on its own; ``callback()`` wraps it for the Trainer."""

    def __init__(self, cfg: GrpoConfig) -> None:
        self.cfg = cfg
        self.rewards: list[float] = []
        self.best: float | None = None
        self.kl_high = 0
        self.reason: str | None = None

    def observe(self, step: int, logs: dict[str, Any]) -> str | None:
        """A reason to stop, or None."""
        kl = logs.get("kl")
        if self.cfg.max_kl is not None and isinstance(kl, int | float):
            self.kl_high = self.kl_high + 1 if kl > self.cfg.max_kl else 0
            if self.kl_high >= self.cfg.patience:
                self.reason = (
                    f"KL to the reference {kl:.3f} > {self.cfg.max_kl:g} (train.grpo.max_kl) for "
                    f"{self.cfg.patience} logged steps, at step {step}"
                )
                return self.reason
        reward = logs.get("reward")
        if self.cfg.collapse is not None and isinstance(reward, int | float):
            self.rewards.append(float(reward))
            window = self.rewards[-self.cfg.patience :]
            if len(window) == self.cfg.patience:
                mean = sum(window) / len(window)
                self.best = mean if self.best is None else max(self.best, mean)
                if mean < self.best - self.cfg.collapse:
                    self.reason = (
                        f"reward collapsed: mean {mean:.3f} over the last {self.cfg.patience} logged steps, "
                        f"{self.best - mean:.3f} below its best {self.best:.3f} (train.grpo.collapse), at step {step}"
                    )
                    return self.reason
        return None

    def callback(self) -> Any:
        transformers = require("transformers")
        guard = self

        class GuardCallback(transformers.TrainerCallback):  # type: ignore[misc]
            def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
                if logs and guard.observe(state.global_step, logs):
                    note(f"[yellow]stopping early: {guard.reason}[/]")
                    control.should_training_stop = True

        return GuardCallback()


def run(
    cfg: TrainConfig,
    *,
    base: LocalModelRef,
    data_dir: Path,
    project_dir: Path,
    run_dir: RunDir,
    resume: bool = False,
    callbacks: list[Any] | None = None,
    rewards: tuple[list[Any], list[float]] | None = None,
) -> TrainResult:
    """``rewards``: (functions, weights) as `tunesmith.rewards.build_rewards` makes them from the project."""
    if rewards is None:
        from tunesmith.core.errors import StageError

        raise StageError(
            "grpo needs the project's reward functions, and none were given",
            where="train.recipe",
            fix="Run it with `tunesmith train` or `tunesmith run` (a tuning study or a multi-process launch cannot "
            "run grpo yet).",
        )
    transformers = require("transformers")
    trl = require("trl")
    datasets = require("datasets")
    functions, weights = rewards
    records = read_jsonl(data_dir / "train.jsonl")
    rows = prompts_of(records)
    transformers.set_seed(cfg.seed)
    model, tokenizer, base_path = _policy(cfg, base, project_dir)
    tokenizer.padding_side = "left"  # generation pads on the left
    n_params = sum(p.numel() for p in model.parameters())
    hp = defaults.resolve(cfg, n_examples=len(rows), n_params=n_params, device=next(model.parameters()).device.type)
    announce(
        hp,
        run_dir,
        prompts=len(rows),
        n_params=n_params,
        rewards={f.__name__: w for f, w in zip(functions, weights, strict=True)},
    )
    guard = Guard(cfg.grpo)
    trainer = trl.GRPOTrainer(
        model=model,
        reward_funcs=functions,
        args=_grpo_args(trl, cfg, hp, run_dir, weights),
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=policy_lora(model, hp, cfg),
    )
    fit(
        trainer,
        cfg,
        run_dir,
        f"GRPO (groups of {cfg.grpo.generations}) on {len(rows)} prompts",
        has_eval=False,
        resume=resume,
        extra_callbacks=[guard.callback(), *(callbacks or [])],
    )
    output = save_trained(
        trainer.model,
        tokenizer,
        run_dir,
        base,
        "grpo",
        base_path,
        extra={"init_from": cfg.init_from, "rewards": [f.__name__ for f in functions], "stopped_early": guard.reason},
    )
    tokenizer.padding_side = "right"
    stop_rate = stop_check(trainer.model, tokenizer, records, base.display_name, n=cfg.stop_check)
    return _result(run_dir, output, hp, stop_rate, [f.__name__ for f in functions], guard.reason)


def _grpo_args(trl: Any, cfg: TrainConfig, hp: Any, run_dir: RunDir, weights: list[float]) -> Any:
    """TRL's GRPO settings from the resolved hyperparameters."""
    settings = sampling_args(
        cfg,
        hp,
        run_dir,
        generations=cfg.grpo.generations,
        max_new_tokens=cfg.grpo.max_new_tokens,
        temperature=cfg.grpo.temperature,
    )
    return trl.GRPOConfig(**settings, reward_weights=weights, mask_truncated_completions=cfg.grpo.mask_truncated)


def _result(
    run_dir: RunDir, output: Path, hp: Any, stop_rate: float, rewards: list[str], stopped: str | None
) -> TrainResult:
    """The run's result: each reward and the KL at the first and last logged step."""
    history = [m for m in run_dir.metrics() if "reward" in m]
    first, last = (history[0], history[-1]) if history else ({}, {})
    per_reward = {
        name: {"first": first.get(f"rewards/{name}/mean"), "last": last.get(f"rewards/{name}/mean")} for name in rewards
    }
    return TrainResult(
        run_dir,
        output,
        last.get("loss"),
        None,
        stop_rate,
        {k: v for k, v in vars(hp).items() if k != "reasons"},
        {
            "first_reward": first.get("reward"),
            "last_reward": last.get("reward"),
            "rewards": per_reward,
            "kl_last": last.get("kl"),
            "stopped_early": stopped,
        },
    )
