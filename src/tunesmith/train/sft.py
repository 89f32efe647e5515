"""Supervised fine-tuning: `sft-lora`, `sft-dora`, `sft-qlora`, `sft-full`, on TRL's SFTTrainer.

Correct by construction:
- examples are tokenized through the model's own chat template and the loss
  mask comes from that template (data/template.py): loss on assistant turns
  and their end-of-turn token only, honouring per-message ``weight``;
- every example is checked to train the token the model stops on, so the
  fine-tuned model ends its answers (verified again after training);
- padding goes right for training (the collator) and left for generation;
- the adapter (or full model) is saved with the tokenizer and chat template;
- checkpoints are marked complete atomically; ``--resume`` continues from the
  last complete one, optimizer, scheduler, RNG and data order included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.core import cpu
from tunesmith.core.deps import require
from tunesmith.core.errors import ConfigError, DataError
from tunesmith.core.jsonl import read_jsonl, write_jsonl
from tunesmith.core.progress import note, task
from tunesmith.core.rundir import RunDir
from tunesmith.data.template import stop_token_trained, tokenize_turns
from tunesmith.models.generation import GenerationParams
from tunesmith.models.local import LocalGenerator
from tunesmith.models.spec import LocalModelRef
from tunesmith.train import defaults
from tunesmith.train.callbacks import (
    make_final_evaluation_callback,
    make_generation_eval_callback,
    make_reporting_callback,
)
from tunesmith.train.checkpoints import last_complete_checkpoint, make_marker_callback
from tunesmith.train.config import TrainConfig
from tunesmith.train.layout import ADAPTER_DIR, CHECKPOINTS_DIR, MODEL_DIR
from tunesmith.train.lengths import require_rows
from tunesmith.train.modeling import load_for_training, lora_config
from tunesmith.train.trainer import make_trainer_class


@dataclass
class TrainResult:
    run: RunDir
    adapter: Path
    final_train_loss: float | None
    final_val_loss: float | None
    stop_rate: float
    hyperparameters: dict[str, Any]
    extra: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """What a training run's run.json records of its result."""
        return {
            "adapter": str(self.adapter),
            "final_train_loss": self.final_train_loss,
            "final_val_loss": self.final_val_loss,
            "stop_rate": self.stop_rate,
            "hyperparameters": self.hyperparameters,
            **self.extra,
        }


def tokenize_records(
    tokenizer: Any, records: list[dict[str, Any]], max_length: int, stop_ids: list[int], kind: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Token ids and labels per record; over-long or untrainable records are returned with reasons."""
    rows, skipped = [], []
    for record in records:
        sequences = tokenize_turns(tokenizer, record["messages"], record.get("tools"))
        for turn, tokenized in enumerate(sequences, 1):
            # a conversation the template cannot render prefix by prefix trains one sequence per turn
            which = f" (turn {turn} of {len(sequences)})" if len(sequences) > 1 else ""
            if len(tokenized.input_ids) > max_length:
                skipped.append(
                    {
                        "id": record.get("id"),
                        "split": kind,
                        "reason": f"{len(tokenized.input_ids)} tokens > train.max_length={max_length}{which}",
                        "tokens": len(tokenized.input_ids),
                    }
                )
                continue
            if tokenized.trained_tokens == 0:
                skipped.append(
                    {"id": record.get("id"), "split": kind, "reason": f"no trained tokens (all weights 0){which}"}
                )
                continue
            if not stop_token_trained(tokenizer, tokenized, stop_ids):
                raise DataError(
                    "an assistant turn does not end with a token the model stops on, so the fine-tuned "
                    "model would not learn to stop",
                    where=f"{kind} example {record.get('id')}{which}",
                    fix="Use the model's own chat template (tunesmith data preview shows the trained tokens).",
                )
            rows.append({"input_ids": tokenized.input_ids, "labels": tokenized.labels})
    return rows, skipped


def training_arguments(
    cfg: TrainConfig,
    hp: defaults.Hyperparameters,
    run_dir: RunDir,
    model: Any,
    *,
    has_eval: bool,
    config_class: Any,
    checkpointing: bool | None = None,
    **extra: Any,
) -> Any:
    """The Trainer arguments every recipe shares: schedule, precision, checkpoints, evaluation, logging;
    ``checkpointing`` as the kernel plan decided (else as the project sets it)."""
    torch = require("torch")
    for tracker in cfg.report_to:  # a missing tracker fails with its pip line, not deep in transformers
        require(tracker, purpose=f"train.report_to: {tracker}")
    early = cfg.early_stopping_patience is not None and has_eval
    # keep the best checkpoint (by validation loss) unless asked for the last; early stopping needs it too
    best = has_eval and (cfg.keep == "best" or early)
    if checkpointing is None:
        checkpointing = cfg.activation_checkpointing is True
    kwargs: dict[str, Any] = dict(
        output_dir=str(run_dir.path(CHECKPOINTS_DIR)),
        max_steps=hp.max_steps,
        per_device_train_batch_size=hp.micro_batch_size,
        per_device_eval_batch_size=hp.micro_batch_size,
        gradient_accumulation_steps=hp.grad_accumulation,
        learning_rate=hp.learning_rate,
        lr_scheduler_type=cfg.scheduler,
        warmup_steps=cfg.warmup,
        weight_decay=cfg.weight_decay,
        logging_steps=1,
        save_steps=hp.save_steps,
        # the best checkpoint must survive rotation beside the newest
        save_total_limit=3 if best else 2,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=hp.eval_steps,
        seed=cfg.seed,
        data_seed=cfg.seed,
        # fp32 on CPU: bf16 matmuls there are ~3x slower. bf16 where the GPU supports it.
        bf16=bf16_compute(model),
        fp16=False,
        activation_checkpointing=checkpointing,
        report_to=list(cfg.report_to),
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        save_only_model=False,
        load_best_model_at_end=best,
        metric_for_best_model="eval_loss" if best else None,
        greater_is_better=False if best else None,
        prediction_loss_only=True,
        **extra,
    )
    return config_class(**kwargs)


def fit(
    trainer: Any,
    cfg: TrainConfig,
    run_dir: RunDir,
    label: str,
    *,
    has_eval: bool,
    resume: bool,
    extra_callbacks: list[Any] | None = None,
) -> None:
    """Every recipe's training loop: our progress bar and metrics instead of the Trainer's printout,
    checkpoint markers, early stopping, and resuming from the last complete checkpoint."""
    transformers = require("transformers")
    trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
    checkpoint = last_complete_checkpoint(run_dir.path(CHECKPOINTS_DIR)) if resume else None
    if checkpoint:
        note(f"Resuming from {checkpoint}")
    with task(label, trainer.args.max_steps) as update:
        trainer.add_callback(make_reporting_callback(run_dir, update))
        trainer.add_callback(make_marker_callback())
        if cfg.early_stopping_patience is not None and has_eval:
            trainer.add_callback(
                transformers.EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience)
            )
        if trainer.args.load_best_model_at_end:
            trainer.add_callback(make_final_evaluation_callback())
        for callback in extra_callbacks or []:
            trainer.add_callback(callback)
        with cpu.computing():  # share the cores with other tunesmith processes computing now
            trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)


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

    train_records, val_records = read_splits(data_dir)
    transformers.set_seed(cfg.seed)
    model, tokenizer, base_path = load_for_training(base, project_dir, cfg.recipe)
    replay, replay_info = replay_for(cfg, model, tokenizer, base, project_dir, run_dir, train_records=train_records)
    stop_ids = LocalGenerator(model, tokenizer, name=base.display_name).stop_token_ids()
    task_rows, task_skipped = tokenize_records(tokenizer, train_records, cfg.max_length, stop_ids, "train")
    replay_rows, skipped = tokenize_records(tokenizer, replay, cfg.max_length, stop_ids, "train")
    train_rows = task_rows + replay_rows
    val_rows, val_skipped = tokenize_records(tokenizer, val_records, cfg.max_length, stop_ids, "val")
    skipped = task_skipped + skipped + val_skipped + replay_info.pop("skipped_rows", [])
    listed = run_dir.path("skipped.jsonl")
    write_jsonl(listed, skipped)
    if skipped:
        note(f"[yellow]{len(skipped)} examples skipped[/] (listed in {listed})")
    # replayed general answers alone would train the model away from the task: the task's own examples decide
    require_rows(
        task_rows, len(train_records), task_skipped, what="examples", max_length=cfg.max_length, where=str(listed)
    )

    n_params = sum(p.numel() for p in model.parameters())
    samples = eval_generation_sample(cfg, val_records) if val_rows else []
    hp = defaults.resolve(
        cfg,
        n_examples=len(train_rows),
        n_params=n_params,
        device=next(model.parameters()).device.type,
        n_eval=len(val_rows),
        eval_samples=len(samples),
    )
    kernels = kernel_plan(cfg, model, base, project_dir, hp.micro_batch_size, train_rows)
    announce(
        hp,
        run_dir,
        train=len(train_rows),
        val=len(val_rows),
        n_params=n_params,
        replay=replay_info,
        kernels=kernels.as_dict(),
    )
    for key, reason in kernels.reasons.items():
        value = kernels.attention if key == "attention" else getattr(kernels, key.replace("activation_", ""))
        note(f"  {key} = {value}  ({reason})")

    args = training_arguments(
        cfg,
        hp,
        run_dir,
        model,
        has_eval=bool(val_rows),
        config_class=trl.SFTConfig,
        checkpointing=kernels.checkpointing,
        max_length=None,
        padding_free=kernels.padding_free,
        use_liger_kernel=kernels.liger,
        # padded batches: similar lengths together; padding-free: any order wastes nothing
        train_sampling_strategy="random" if kernels.padding_free else "group_by_length",
    )
    peft_config = lora_config(
        cfg.recipe, r=hp.lora_r, alpha=hp.lora_alpha, dropout=cfg.lora_dropout, target_modules=cfg.target_modules
    )
    trainer = make_trainer_class()(
        model=model,
        args=args,
        train_dataset=datasets.Dataset.from_list(train_rows),
        eval_dataset=datasets.Dataset.from_list(val_rows) if val_rows else None,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    if kernels.compile:
        if trainer._fast_path(trainer.model) is None:
            # TRL's standard loss runs the wrapped model, which this compiles nothing of
            raise ConfigError(
                "train.compile: true compiles the trained-tokens loss path, which this run does not take "
                "(a distributed run, or a model with logit soft-capping or scaling)",
                fix="Set train.compile: auto (off) for this run.",
            )
        trainer.compile_decoder = True
    extra = list(callbacks or [])
    sampling = make_generation_eval_callback(run_dir, tokenizer, samples) if samples else None
    if sampling is not None:
        extra.append(sampling)
    label = f"Training {cfg.recipe} on {len(train_rows)} examples" + (f" ({len(replay)} replayed)" if replay else "")
    fit(trainer, cfg, run_dir, label, has_eval=bool(val_rows), resume=resume, extra_callbacks=extra)

    kept = kept_weights(trainer, cfg, run_dir) if val_rows else None
    final_val = final_validation_loss(trainer, run_dir, cfg) if val_rows else None
    if not trainer.is_world_process_zero():
        return TrainResult(run_dir, run_dir.path(ADAPTER_DIR), None, final_val, 1.0, {}, {})
    output = save_trained(trainer.model, tokenizer, run_dir, base, cfg.recipe, base_path)
    stop_rate = stop_check(
        trainer.model,
        tokenizer,
        val_records or train_records,
        base.display_name,
        n=cfg.stop_check,
        ended=sampled_endings(sampling, kept, trainer.state.global_step),
    )
    train_losses = [m["loss"] for m in run_dir.metrics() if "loss" in m]
    extra_summary: dict[str, Any] = {"replay": replay_info}
    if kept:
        extra_summary["kept"] = kept
    return TrainResult(
        run=run_dir,
        adapter=output,
        final_train_loss=train_losses[-1] if train_losses else None,
        final_val_loss=final_val,
        stop_rate=stop_rate,
        hyperparameters={k: v for k, v in vars(hp).items() if k != "reasons"},
        extra=extra_summary,
    )


def bf16_compute(model: Any) -> bool:
    """Compute in bf16: a bf16 model, or fp32 master weights on a GPU that has bf16 (mixed precision)."""
    torch = require("torch")
    dtype = getattr(model, "dtype", None)
    if dtype == torch.bfloat16:
        return True
    device = next(model.parameters()).device
    return dtype == torch.float32 and device.type == "cuda" and torch.cuda.is_bf16_supported()


def kernel_plan(
    cfg: TrainConfig, model: Any, base: LocalModelRef, project_dir: Path, micro_batch: int, rows: list[dict[str, Any]]
) -> Any:
    """The run's kernel choices (train/kernels.py), applied to the model's attention implementation."""
    torch = require("torch")
    from tunesmith.train import kernels
    from tunesmith.train.estimate import estimate_run

    device = next(model.parameters()).device.type
    lengths = [len(r["input_ids"]) for r in rows]
    trained = [sum(1 for t in r["labels"] if t != -100) for r in rows]

    def peak(checkpointing: bool) -> int:
        found = estimate_run(
            cfg, base, project_dir, lengths, trained, micro_batch=micro_batch, checkpointing=checkpointing
        )
        return int(found["peak_bytes"])

    plan = kernels.plan(
        cfg,
        device=device,
        half_precision=getattr(model, "dtype", None) in (torch.bfloat16, torch.float16),
        peak_bytes=peak,
        device_bytes=kernels.device_memory(device) if device == "cuda" else None,
    )
    if getattr(model.config, "_attn_implementation", None) != plan.attention:
        model.set_attn_implementation(plan.attention)
    return plan


def read_splits(data_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, validation) records of a data run; an empty training split is an error."""
    train_records = read_jsonl(data_dir / "train.jsonl")
    val_path = data_dir / "val.jsonl"
    if not train_records:
        raise DataError(
            "the training split is empty",
            where=str(data_dir / "train.jsonl"),
            fix="Rebuild the data with more golden outputs.",
        )
    return train_records, read_jsonl(val_path) if val_path.exists() else []


def replay_for(
    cfg: TrainConfig,
    model: Any,
    tokenizer: Any,
    base: LocalModelRef,
    project_dir: Path,
    run_dir: RunDir,
    *,
    train_records: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The replay examples to mix in (train/replay.py), answered by the model as loaded for training."""
    from tunesmith.train.replay import replay_examples

    # the 4-bit QLoRA base answers a little differently from the full-precision one: its own cache entries
    name = base.display_name + ("+nf4" if cfg.recipe == "sft-qlora" else "")
    model.eval()  # no dropout while the base model answers
    records, skipped, info = replay_examples(
        run_dir,
        cfg,
        base=base,
        project_dir=project_dir,
        train_records=train_records,
        generator=LocalGenerator(model, tokenizer, name=name),
    )
    model.train()
    if records and not info.get("reused"):
        note(f"  replay = {info['examples']} base-model answers to general prompts  ({info['reason']})")
    return records, {**info, "skipped_rows": skipped}


def eval_generation_sample(cfg: TrainConfig, val_records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation examples answered at every evaluation (``eval_generations``; auto: 4 when keeping the best)."""
    n = cfg.eval_generations
    if n == "auto":
        n = 4 if cfg.keep == "best" else 0
    return val_records[:n]


def kept_weights(trainer: Any, cfg: TrainConfig, run_dir: RunDir) -> dict[str, Any] | None:
    """Which checkpoint the run keeps and why, said once and recorded in the run's summary."""
    evals = [(m["step"], m["eval_loss"]) for m in run_dir.metrics() if "eval_loss" in m and "step" in m]
    if not evals:
        return None
    last_step, last_loss = evals[-1]
    if cfg.keep != "best" or trainer.state.best_model_checkpoint is None:
        return {"which": "last", "step": last_step, "eval_loss": last_loss}
    best_step = int(str(trainer.state.best_model_checkpoint).rsplit("-", 1)[-1])
    best_loss = float(trainer.state.best_metric)
    why = f"lowest validation loss of {len(evals)} evaluations ({best_loss:.4f} at step {best_step}" + (
        f"; the last, at step {last_step}, was {last_loss:.4f})" if best_step != last_step else ", the last step)"
    )
    note(f"  kept the checkpoint of step {best_step}: {why}")
    return {
        "which": "best",
        "step": best_step,
        "eval_loss": best_loss,
        "last_step": last_step,
        "last_eval_loss": last_loss,
        "why": why,
    }


def final_validation_loss(trainer: Any, run_dir: RunDir, cfg: TrainConfig) -> float:
    """Validation loss of the final weights, reusing the evaluation at the last step when there was one."""
    if trainer.args.load_best_model_at_end and trainer.state.best_metric is not None:
        return float(trainer.state.best_metric)  # the kept weights are the best checkpoint's
    single = trainer.accelerator.num_processes == 1  # every rank must join an evaluation, so all or none
    if single:
        step = trainer.state.global_step
        logged = [m["eval_loss"] for m in run_dir.metrics() if "eval_loss" in m and m.get("step") == step]
        if logged:
            return float(logged[-1])
    return float(trainer.evaluate()["eval_loss"])


def announce(hp: defaults.Hyperparameters, run_dir: RunDir, **counts: Any) -> None:
    for key, reason in hp.reasons.items():
        note(f"  {key} = {getattr(hp, key)}  ({reason})")
    run_dir.write_json(
        "hyperparameters.json",
        {**{k: v for k, v in vars(hp).items() if k != "reasons"}, "reasons": hp.reasons, **counts},
    )


def save_trained(
    model: Any,
    tokenizer: Any,
    run_dir: RunDir,
    base: LocalModelRef,
    recipe: str,
    base_path: str,
    *,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Adapter (or full model) + tokenizer + chat template + what it was trained from."""
    peft = require("peft")
    is_adapter = isinstance(model, peft.PeftModel)
    folder = run_dir.path(ADAPTER_DIR if is_adapter else MODEL_DIR)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))  # tokenizer + chat template travel with the weights
    (folder / "tunesmith.json").write_text(
        json.dumps(
            {
                "base": base.model_dump(exclude_defaults=True),
                "base_path": base_path,
                "recipe": recipe,
                "kind": "adapter" if is_adapter else "model",
                **(extra or {}),
            },
            indent=2,
        )
        + "\n"
    )
    return folder


def sampled_endings(sampling: Any, kept: dict[str, Any] | None, last_step: int) -> list[bool] | None:
    """Whether each answer sampled at the evaluation of the weights the run keeps ended by itself (the first
    validation prompts, greedy, as the stop check asks them); None when the kept weights were not sampled."""
    if sampling is None or kept is None:
        return None
    step = kept["step"]
    if kept["which"] == "last" and step != last_step:
        return None  # the last evaluation came before the last step: other weights
    return sampling.ended.get(step)


def stop_check(
    model: Any,
    tokenizer: Any,
    records: list[dict[str, Any]],
    name: str,
    n: int = 4,
    ended: list[bool] | None = None,
) -> float:
    """Share of sample prompts on which the trained model ends its answer by itself.

    ``ended``: for the first prompts, whether a greedy answer of these weights already ended by itself (the
    evaluation's samples, under a shorter budget); those are not decoded again. An answer cut by that budget
    is decoded here with this check's longer one."""
    sample = records[:n]
    if not sample:
        return float("nan")  # not checked
    known = (ended or [])[: len(sample)]
    pending = [i for i in range(len(sample)) if i >= len(known) or not known[i]]
    stopped = len(sample) - len(pending)
    if pending:
        generator = LocalGenerator(model, tokenizer, name=name, batch_size=len(pending))
        longest = max(len(tokenizer(r["messages"][-1]["content"])["input_ids"]) for r in sample)
        prompts = [sample[i]["messages"][:-1] for i in pending]
        model.eval()
        adapter = next(iter(generator.adapters), None)
        outputs = generator.generate(prompts, GenerationParams(max_new_tokens=2 * longest + 32), adapter=adapter)
        stopped += sum(o.finish_reason == "stop" for o in outputs)
    return stopped / len(sample)
