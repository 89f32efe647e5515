"""Benchmark: `tunesmith train` (sft-lora) against a plain TRL SFTTrainer + PEFT run doing the same work.

Same bundled SmolLM2-135M, the example project's training split (built by `tunesmith data build`), fp32
on CPU, LoRA r=16 / alpha 32 on all linear layers, the same examples, epochs, effective batch size,
learning rate and schedule, and loss on assistant tokens only. The TRL run keeps everything else at
TRL's defaults (per-device batch 8, activation checkpointing on, full-vocabulary logits). Each side runs
in its own process, so its peak resident memory is its own; the validation loss of both trained
adapters is measured afterwards by one function (mean cross-entropy per assistant token of the
validation split). Prints one JSON object.

    python bench/train.py [--epochs 1] [--max-length 512] [--batch-size 8] [--learning-rate 1e-3]

It also reports how close each side gets to this machine's limit: measured fp32 matmul peak
(GFLOP/s) against the model's FLOPs per trained token (4 x parameters for LoRA: forward, plus the
backward pass through activations only, since the base weights take no gradient).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from flops import matmul_peak_gflops

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "northwind-support"


def base_model_path() -> str:
    from tunesmith.models.resolve import DEFAULT_MODEL, local_path
    from tunesmith.models.spec import LocalModelRef

    return local_path(LocalModelRef(id=DEFAULT_MODEL), REPO)


def tokenized_split(data_dir: Path, split: str, max_length: int) -> list[dict]:
    """input_ids + labels of a split, through the model's chat template; over-long examples dropped (both sides)."""
    from tunesmith.core.jsonl import read_jsonl
    from tunesmith.data.template import tokenize_chat
    from tunesmith.models.local import load_tokenizer

    tokenizer = load_tokenizer(base_model_path())
    rows = []
    for record in read_jsonl(data_dir / f"{split}.jsonl"):
        t = tokenize_chat(tokenizer, record["messages"])
        if len(t.input_ids) <= max_length and t.trained_tokens:
            rows.append({"input_ids": t.input_ids, "labels": t.labels})
    return rows


def trl_worker(args: argparse.Namespace) -> None:
    """The plain path: TRL's SFTTrainer with a PEFT LoraConfig, TRL defaults for everything not shared."""
    import datasets
    import peft
    import torch
    import transformers
    import trl

    rows = tokenized_split(Path(args.data), "train", args.max_length)
    # TRL folds `assistant_masks` into labels itself (-100 where the mask is 0): assistant-only loss
    train = datasets.Dataset.from_list(
        [{"input_ids": r["input_ids"], "assistant_masks": [int(x != -100) for x in r["labels"]]} for r in rows]
    )
    path = base_model_path()
    transformers.set_seed(args.seed)
    model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    config = trl.SFTConfig(
        output_dir=str(Path(args.out).parent / "trl-run"),
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=args.warmup,
        max_length=args.max_length,
        seed=args.seed,
        bf16=False,  # TRL defaults to bf16, which this CPU runs ~3x slower; fp32 on both sides
        report_to=[],
        save_strategy="no",
        disable_tqdm=True,
    )
    lora = peft.LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = trl.SFTTrainer(
        model=model, args=config, train_dataset=train, processing_class=tokenizer, peft_config=lora
    )
    output = trainer.train()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    adapter = Path(args.out).parent / "trl-adapter"
    trainer.model.save_pretrained(str(adapter))
    Path(args.out).write_text(
        json.dumps(
            {
                "train_runtime": output.metrics["train_runtime"],
                "train_loss": output.metrics["train_loss"],
                "peak_rss_mib": peak,
                "adapter": str(adapter),
                "steps": output.global_step,
            }
        )
    )


def val_loss(adapter: Path, data_dir: Path, max_length: int) -> float:
    """Mean cross-entropy per assistant token of the validation split, for a trained adapter."""
    import peft
    import torch
    import transformers

    from tunesmith.models.loss import trained_token_loss

    model = transformers.AutoModelForCausalLM.from_pretrained(base_model_path(), dtype=torch.float32)
    model = peft.PeftModel.from_pretrained(model, str(adapter)).eval()
    total, count = 0.0, 0
    with torch.inference_mode():
        for row in tokenized_split(data_dir, "val", max_length):
            ids = torch.tensor([row["input_ids"]])
            hidden = model.get_base_model().model(input_ids=ids).last_hidden_state
            loss, n = trained_token_loss(hidden, torch.tensor([row["labels"]]), model.get_output_embeddings())
            total, count = total + float(loss), count + n
    return total / count


def run_trl(args: argparse.Namespace, work: Path, data_dir: Path) -> dict:
    out = work / "trl.json"
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--trl-worker",
            "--data",
            str(data_dir),
            "--out",
            str(out),
            "--epochs",
            str(args.epochs),
            "--max-length",
            str(args.max_length),
            "--batch-size",
            str(args.batch_size),
            "--learning-rate",
            str(args.learning_rate),
            "--warmup",
            str(args.warmup),
            "--seed",
            str(args.seed),
        ],
        check=True,
        env={**os.environ, "NO_COLOR": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--micro-batch-size", default="auto", help="tunesmith's micro batch (default: its auto)")
    parser.add_argument("--skip-trl", action="store_true", help="measure tunesmith only (no comparison)")
    parser.add_argument("--project", help="reuse a project whose data is already built")
    parser.add_argument("--trl-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trl_worker:
        trl_worker(args)
        return

    env = {**os.environ, "NO_COLOR": "1"}
    work = Path(tempfile.mkdtemp(prefix="tunesmith-bench-train-"))
    project = Path(args.project) if args.project else work / "northwind"
    if not args.project:
        shutil.copytree(EXAMPLE, project)
        subprocess.run(
            [sys.executable, "-m", "tunesmith", "data", "build", "-p", str(project), "--json"],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
    data_dir = sorted(p for p in (project / "runs").iterdir() if p.name.endswith("-data"))[-1]
    train_rows = tokenized_split(data_dir, "train", args.max_length)
    tokens_per_epoch = sum(len(r["input_ids"]) for r in train_rows)
    tokens = tokens_per_epoch * args.epochs  # every token of every example goes through the model

    # tunesmith, as a user runs it; checkpoints and in-run evaluation off, as in TRL's defaults for a short run
    shared = {
        "train.recipe": "sft-lora",
        "train.epochs": args.epochs,
        "train.batch_size": args.batch_size,
        "train.micro_batch_size": args.micro_batch_size,
        "train.learning_rate": args.learning_rate,
        "train.warmup": args.warmup,
        "train.scheduler": "cosine",
        "train.max_length": args.max_length,
        "train.lora_r": 16,
        "train.lora_alpha": 32,
        "train.lora_dropout": 0.0,
        "train.seed": args.seed,
        "train.save_steps": 100_000,
        "train.eval_steps": 100_000,
        "train.stop_check": 0,
    }
    sets = [arg for key, value in shared.items() for arg in ("--set", f"{key}={value}")]
    done = subprocess.run(
        [sys.executable, "-m", "tunesmith", "train", "-p", str(project), "--json", *sets],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    ours = json.loads(done.stdout)
    run = Path(ours["adapter"]).parent
    final = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    # the Trainer logs a running train_runtime every step; the row with train_loss closes the run
    ours_runtime = next(r["train_runtime"] for r in final if "train_loss" in r)

    import torch
    import transformers

    from tunesmith.train.estimate import count_parameters

    n_params = count_parameters(transformers.AutoConfig.from_pretrained(base_model_path()))
    peak = matmul_peak_gflops()
    flops_per_token = 4 * n_params

    def side(runtime: float, rss: float, adapter: Path) -> dict:
        rate = tokens / runtime
        return {
            "tokens_per_s": round(rate, 1),
            "train_runtime_s": round(runtime, 1),
            "peak_rss_mib": round(rss, 1),
            "final_val_loss": round(val_loss(adapter, data_dir, args.max_length), 4),
            "fraction_of_matmul_peak": round(rate * flops_per_token / (peak * 1e9), 3),
        }

    a = side(ours_runtime, ours["peak_rss_mib"], Path(ours["adapter"]))
    a["micro_batch_size"] = ours["hyperparameters"]["micro_batch_size"]
    report = {
        "model": "SmolLM2-135M-Instruct (bundled)",
        "setup": {
            "examples": len(train_rows),
            "epochs": args.epochs,
            "tokens_processed": tokens,
            "batch_size": args.batch_size,
            "max_length": args.max_length,
            "learning_rate": args.learning_rate,
            "lora": "r=16 alpha=32 all-linear",
            "dtype": "fp32",
            "threads": torch.get_num_threads(),
        },
        "tunesmith": a,
        "matmul_peak_gflops": round(peak, 1),
        "flops_per_trained_token": flops_per_token,
    }
    if not args.skip_trl:
        theirs = run_trl(args, work, data_dir)
        b = side(theirs["train_runtime"], theirs["peak_rss_mib"], Path(theirs["adapter"]))
        report["trl"] = b
        report["speedup"] = round(a["tokens_per_s"] / b["tokens_per_s"], 2)
        report["memory_ratio"] = round(a["peak_rss_mib"] / b["peak_rss_mib"], 2)
        report["val_loss_ratio"] = round(a["final_val_loss"] / b["final_val_loss"], 4)
    print(json.dumps(report, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
