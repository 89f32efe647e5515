"""Preference recipes on TRL: `dpo` (Rafailov et al. 2023), `kto` (Ethayarajh et al. 2024, unpaired), and
`reward` (a Bradley-Terry reward model for `rlhf`).

Preference pairs come from the data build (`preference_train.jsonl`,
`preference_val.jsonl`, OpenAI's DPO format): from `data.sources` holding
preference records, or made by `data.preferences` (the golden output preferred
over the base model's own answer). DPO and KTO train a LoRA adapter whose
reference is the base model with the adapter switched off; with
`train.init_from` they continue an SFT run's adapter, the usual order (SFT,
then preferences).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunesmith.core.deps import require
from tunesmith.core.errors import DataError, StageError
from tunesmith.core.jsonl import read_jsonl, write_jsonl
from tunesmith.core.progress import note
from tunesmith.core.rundir import RunDir
from tunesmith.models.local import load_causal_lm, tokenizer_for
from tunesmith.models.resolve import local_path
from tunesmith.models.spec import LocalModelRef
from tunesmith.train import defaults
from tunesmith.train.config import TrainConfig
from tunesmith.train.layout import ADAPTER_DIR, adapter_of
from tunesmith.train.lengths import check_kept, fit_pairs, require_rows
from tunesmith.train.modeling import lora_config
from tunesmith.train.sft import (
    TrainResult,
    announce,
    fit,
    save_trained,
    stop_check,
    training_arguments,
)

PREFERENCE_FILES = ("preference_train.jsonl", "preference_val.jsonl")


def load_pairs(data_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, val) pairs: prompt, chosen, rejected, tools where declared, and where each came from."""
    train_path, val_path = (data_dir / name for name in PREFERENCE_FILES)
    if not train_path.exists():
        raise StageError(
            "this recipe trains on preference pairs, and the data build has none",
            where=str(data_dir),
            fix="Add a preference dataset (OpenAI DPO format) to data.sources, or set data.preferences, "
            "then run `tunesmith data build`.",
        )

    def rows(path: Path) -> list[dict[str, Any]]:
        if not path.exists():
            return []
        pairs = []
        for line, r in enumerate(read_jsonl(path), 1):
            pair = {"prompt": r["input"]["messages"], "chosen": r["preferred_output"]}
            pair |= {"rejected": r["non_preferred_output"], "where": f"{path.name}:{line}", "id": r.get("id")}
            if r["input"].get("tools"):
                pair["tools"] = r["input"]["tools"]
            pairs.append(pair)
        return pairs

    train = rows(train_path)
    if not train:
        raise DataError(
            "the training split has no preference pairs",
            where=str(train_path),
            fix="Rebuild the data (tunesmith data build) with preference pairs in data.sources or data.preferences.",
        )
    return train, rows(val_path)


def _policy(cfg: TrainConfig, base: LocalModelRef, project_dir: Path) -> tuple[Any, Any, str]:
    """The model to optimize: the base, or the base with an SFT run's adapter (trainable) when init_from is set."""
    model, tokenizer, path = load_causal_lm(base, project_dir)
    model.train()
    if cfg.init_from:
        from tunesmith.registry.runs import resolve_run

        peft = require("peft")
        init_run = resolve_run(project_dir, cfg.init_from, "train")
        adapter = adapter_of(init_run)
        if adapter is None:
            raise StageError(
                "train.init_from names a run without an adapter",
                where=str(init_run.root),
                fix="Point it at a LoRA training run.",
            )
        model = peft.PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
        note(f"continuing the adapter of {cfg.init_from}")
    return model, tokenizer, path


def policy_lora(model: Any, hp: Any, cfg: TrainConfig) -> Any:
    """The LoRA settings for a policy, or None when it already carries an adapter (started from an SFT run)."""
    peft = require("peft")
    if isinstance(model, peft.PeftModel):
        return None
    return lora_config(
        "sft-lora", r=hp.lora_r, alpha=hp.lora_alpha, dropout=cfg.lora_dropout, target_modules=cfg.target_modules
    )


def fitted_rows(
    tokenizer: Any, cfg: TrainConfig, run_dir: RunDir, train: list[dict[str, Any]], val: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The TRL rows of both splits that fit ``train.max_length``; the rest listed in skipped.jsonl, with reasons."""
    fitted = {
        split: fit_pairs(tokenizer, pairs, cfg.recipe, cfg.max_length, split)
        for split, pairs in (("train", train), ("val", val))
    }
    skipped = fitted["train"].skipped + fitted["val"].skipped
    listed = run_dir.path("skipped.jsonl")
    write_jsonl(listed, skipped)
    if skipped:
        note(f"[yellow]{len(skipped)} preference rows skipped[/] (listed in {listed})")
    truncated = fitted["train"].truncated + fitted["val"].truncated
    if truncated:
        note(
            f"[yellow]{truncated} preference rows are longer than train.max_length={cfg.max_length}[/]: "
            "their answers are cut there and the end is not trained"
        )
    require_rows(
        fitted["train"].rows,
        len(train),
        fitted["train"].skipped,
        what="preference pairs",
        max_length=cfg.max_length,
        where=str(listed),
    )
    return fitted["train"].rows, fitted["val"].rows


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
    if cfg.recipe == "reward":
        return run_reward(
            cfg,
            base=base,
            data_dir=data_dir,
            project_dir=project_dir,
            run_dir=run_dir,
            resume=resume,
            callbacks=callbacks,
        )
    transformers = require("transformers")
    trl = require("trl")
    datasets = require("datasets")
    train_pairs, val_pairs = load_pairs(data_dir)
    transformers.set_seed(cfg.seed)
    model, tokenizer, base_path = _policy(cfg, base, project_dir)
    n_params = sum(p.numel() for p in model.parameters())
    # KTO learns from unpaired judgements: each pair gives one desirable and one undesirable row
    train_rows, val_rows = fitted_rows(tokenizer, cfg, run_dir, train_pairs, val_pairs)
    if cfg.recipe == "kto":
        config_class, trainer_class = trl.KTOConfig, trl.KTOTrainer
    else:
        config_class, trainer_class = trl.DPOConfig, trl.DPOTrainer
    hp = defaults.resolve(
        cfg, n_examples=len(train_rows), n_params=n_params, device=next(model.parameters()).device.type
    )
    announce(hp, run_dir, train=len(train_rows), val=len(val_rows), n_params=n_params)
    args = training_arguments(
        cfg,
        hp,
        run_dir,
        model,
        has_eval=bool(val_rows),
        config_class=config_class,
        beta=cfg.beta,
        max_length=cfg.max_length,
    )
    peft_config = policy_lora(model, hp, cfg)
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=datasets.Dataset.from_list(train_rows),
        eval_dataset=datasets.Dataset.from_list(val_rows) if val_rows else None,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    check_kept(trainer, train_rows, val_rows)
    fit(
        trainer,
        cfg,
        run_dir,
        f"Training {cfg.recipe} on {len(train_rows)} examples",
        has_eval=bool(val_rows),
        resume=resume,
        extra_callbacks=callbacks,
    )
    metrics = trainer.evaluate() if val_rows else {}
    output = save_trained(
        trainer.model, tokenizer, run_dir, base, cfg.recipe, base_path, extra={"init_from": cfg.init_from}
    )
    records = [{"messages": p["prompt"] + p["chosen"]} for p in (val_pairs or train_pairs)]
    stop_rate = stop_check(trainer.model, tokenizer, records, base.display_name, n=cfg.stop_check)
    losses = [m["loss"] for m in run_dir.metrics() if "loss" in m]
    extra = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    return TrainResult(
        run_dir,
        output,
        losses[-1] if losses else None,
        extra.get("eval_loss"),
        stop_rate,
        {k: v for k, v in vars(hp).items() if k != "reasons"},
        extra,
    )


def load_reward_model(run: RunDir, base: LocalModelRef, project_dir: Path) -> tuple[Any, Any]:
    """A trained reward model (sequence classifier with one score), merged and ready to score text."""
    transformers = require("transformers")
    peft = require("peft")
    path = local_path(base, project_dir)
    tokenizer = tokenizer_for(base, project_dir)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, use_safetensors=True)
    model.config.pad_token_id = tokenizer.pad_token_id
    model = peft.PeftModel.from_pretrained(model, str(run.path(ADAPTER_DIR))).merge_and_unload()
    model.eval()
    return model, tokenizer


def run_reward(
    cfg: TrainConfig,
    *,
    base: LocalModelRef,
    data_dir: Path,
    project_dir: Path,
    run_dir: RunDir,
    resume: bool = False,
    callbacks: list[Any] | None = None,
) -> TrainResult:
    """A reward model: the base model with a one-score head, LoRA-trained so chosen scores above rejected."""
    transformers = require("transformers")
    trl = require("trl")
    datasets = require("datasets")
    peft = require("peft")
    train_pairs, val_pairs = load_pairs(data_dir)
    transformers.set_seed(cfg.seed)
    path = local_path(base, project_dir)
    tokenizer = tokenizer_for(base, project_dir)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, use_safetensors=True)
    model.config.pad_token_id = tokenizer.pad_token_id

    def implicit(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # the reward trainer scores whole conversations: the prompt goes in front of each side
        return [
            {k: v for k, v in r.items() if k == "tools"}
            | {"chosen": r["prompt"] + r["chosen"], "rejected": r["prompt"] + r["rejected"]}
            for r in rows
        ]

    train_rows, val_rows = (implicit(rows) for rows in fitted_rows(tokenizer, cfg, run_dir, train_pairs, val_pairs))
    n_params = sum(p.numel() for p in model.parameters())
    hp = defaults.resolve(
        cfg, n_examples=len(train_rows), n_params=n_params, device=next(model.parameters()).device.type
    )
    announce(hp, run_dir, train=len(train_rows), val=len(val_rows), n_params=n_params)
    args = training_arguments(
        cfg, hp, run_dir, model, has_eval=bool(val_rows), config_class=trl.RewardConfig, max_length=cfg.max_length
    )
    # the new score head is trained in full (modules_to_save); the body through LoRA
    peft_config = peft.LoraConfig(
        r=hp.lora_r,
        lora_alpha=hp.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=cfg.target_modules,
        task_type="SEQ_CLS",
        modules_to_save=["score"],
    )
    trainer = trl.RewardTrainer(
        model=model,
        args=args,
        train_dataset=datasets.Dataset.from_list(train_rows),
        eval_dataset=datasets.Dataset.from_list(val_rows) if val_rows else None,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    check_kept(trainer, train_rows, val_rows)
    fit(
        trainer,
        cfg,
        run_dir,
        f"Training a reward model on {len(train_rows)} pairs",
        has_eval=bool(val_rows),
        resume=resume,
        extra_callbacks=callbacks,
    )
    output = save_trained(trainer.model, tokenizer, run_dir, base, "reward", path)
    pairs = val_rows or train_rows
    accuracy = pairwise_accuracy(trainer.model.eval(), tokenizer, pairs, cfg.max_length)
    run_dir.log_metrics(step=trainer.state.global_step, reward_accuracy=accuracy)
    losses = [m["loss"] for m in run_dir.metrics() if "loss" in m]
    return TrainResult(
        run_dir,
        output,
        losses[-1] if losses else None,
        None,
        1.0,
        {k: v for k, v in vars(hp).items() if k != "reasons"},
        {"reward_accuracy": accuracy, "pairs_scored": len(pairs)},
    )


def pairwise_accuracy(model: Any, tokenizer: Any, pairs: list[dict[str, Any]], max_length: int) -> float:
    """How often the reward model scores the preferred answer above the other (on held-out pairs)."""
    torch = require("torch")
    wins = 0
    with torch.inference_mode():
        for row in pairs:
            scores = []
            for side in ("chosen", "rejected"):
                tools = json.loads(row["tools"]) if row.get("tools") else None
                text = tokenizer.apply_chat_template(row[side], tools=tools, tokenize=False)
                enc = tokenizer(
                    text, return_tensors="pt", add_special_tokens=False, truncation=True, max_length=max_length
                ).to(model.device)
                scores.append(float(model(**enc).logits[0, 0]))
            wins += scores[0] > scores[1]
    return wins / max(len(pairs), 1)
