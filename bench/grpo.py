"""Measurement: a short GRPO run after SFT, with the project's own rewards, on the example project.

Through the CLI as a user runs it: evaluate the SFT fine-tune (system `finetuned`, the test split, ROUGE-L
and the style rules), run `train.recipe: grpo` from that adapter (`train.init_from`) with the default rewards
(style 1.0, ROUGE-L 0.5), evaluate the result on the same test examples, and compare the two evaluations
paired on those examples (bootstrap interval, Wilcoxon, Holm). Prints one JSON object: the reward curves'
start and end (mean of the first and last 3 logged steps), the KL, the style and ROUGE-L of both models
with intervals and their paired differences, and the wall time of each step.

    python bench/grpo.py [--project DIR --data RUN --sft RUN] [--sft-steps N] [--steps 16] [--batch-size 8] [--learning-rate 1e-4]

DIR is a project with a data build and an SFT training run on it (e.g. the folder `tunesmith demo` made);
without one, the example project is copied to a temporary folder, built and fine-tuned (one epoch) first.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def cli(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "tunesmith", *args, "--json"], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"tunesmith {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def evaluate(project: str, data: str, train: str) -> tuple[str, float]:
    start = time.monotonic()
    summary = cli(
        "eval",
        "--project",
        project,
        "--data",
        data,
        "--train",
        train,
        "--set",
        "eval.systems=[finetuned]",
        "--set",
        "eval.metrics=[rouge_l,style]",
        "--set",
        "eval.probe=false",
    )
    return summary["run_dir"], time.monotonic() - start


def curve(metrics: list[dict[str, Any]], key: str, n: int = 3) -> dict[str, float] | None:
    values = [m[key] for m in metrics if key in m]
    if not values:
        return None
    return {
        "first": sum(values[:n]) / len(values[:n]),
        "last": sum(values[-n:]) / len(values[-n:]),
        "steps": len(values),
    }


def prepared_project(sft_steps: int | None) -> tuple[str, str, str]:
    """The example project in a temporary folder, with a data build and an SFT run (one epoch, or
    `sft_steps` optimizer steps: a weaker start leaves the style reward room to rise)."""
    import shutil
    import tempfile

    from tunesmith.registry.runs import latest_run

    folder = Path(tempfile.mkdtemp(prefix="grpo-bench-")) / "northwind"
    example = Path(__file__).resolve().parents[1] / "examples" / "northwind-support"
    shutil.copytree(example, folder, ignore=shutil.ignore_patterns("runs", "mlflow", ".tunesmith"))
    cli("data", "build", "--project", str(folder))
    length = f"train.max_steps={sft_steps}" if sft_steps else "train.epochs=1"
    cli("train", "--project", str(folder), "--set", length)
    data, sft = latest_run(folder, "data"), latest_run(folder, "train")
    assert data is not None and sft is not None
    return str(folder), data.id, sft.id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", help="a project with a data build and an SFT run (default: a fresh one)")
    parser.add_argument("--data", help="data run id")
    parser.add_argument("--sft", help="SFT training run id (GRPO starts from its adapter)")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--sft-steps", type=int, help="without --project: SFT this many steps, not one epoch")
    parser.add_argument("--sft-eval", help="an evaluation of the SFT run made by this script before (reused)")
    args = parser.parse_args()
    if args.project is None:
        args.project, args.data, args.sft = prepared_project(args.sft_steps)
        print(json.dumps({"project": args.project, "data": args.data, "sft": args.sft}), file=sys.stderr)

    sft_eval, sft_eval_s = (args.sft_eval, 0.0) if args.sft_eval else evaluate(args.project, args.data, args.sft)
    print(json.dumps({"sft_eval": sft_eval}), file=sys.stderr)
    start = time.monotonic()
    trained = cli(
        "train",
        "--project",
        args.project,
        "--data",
        args.data,
        "--set",
        "train.recipe=grpo",
        "--set",
        f"train.init_from={args.sft}",
        "--set",
        f"train.max_steps={args.steps}",
        "--set",
        f"train.learning_rate={args.learning_rate}",
        "--set",
        f"train.batch_size={args.batch_size}",
        "--set",
        f"train.grpo.generations={args.generations}",
    )
    grpo_s = time.monotonic() - start
    from tunesmith.registry.runs import latest_run

    found = latest_run(Path(args.project), "train")
    assert found is not None and found.info["summary"].get("recipe") == "grpo"
    grpo_run = found.root
    metrics = [json.loads(line) for line in (grpo_run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    grpo_eval, grpo_eval_s = evaluate(args.project, args.data, found.id)

    from tunesmith.eval.compare import compare_runs, eval_runs

    runs = eval_runs([sft_eval, grpo_eval], Path(args.project))
    out: dict[str, Any] = {
        "steps": args.steps,
        "learning_rate": args.learning_rate,
        "generations": args.generations,
        "prompts_per_step": args.batch_size // args.generations,
        "grpo_wall_s": round(grpo_s, 1),
        "seconds_per_step": round(grpo_s / max(1, len([m for m in metrics if "reward" in m])), 2),
        "eval_wall_s": {"sft": round(sft_eval_s, 1), "grpo": round(grpo_eval_s, 1)},
        "stopped_early": trained.get("stopped_early"),
        "reward": curve(metrics, "reward"),
        "reward_style": curve(metrics, "rewards/style/mean"),
        "reward_rouge": curve(metrics, "rewards/rouge/mean"),
        "kl": curve(metrics, "kl"),
        "runs": {"sft_eval": runs[0].id, "grpo_train": found.id, "grpo_eval": runs[1].id},
    }
    for metric in ("style", "rouge_l"):
        compared = compare_runs(runs, metric)
        before, after = compared["entries"]
        vs = after["vs_first"]
        out[metric] = {
            "sft": {k: round(before[k], 4) for k in ("mean", "low", "high")},
            "grpo": {k: round(after[k], 4) for k in ("mean", "low", "high")},
            "diff": {k: round(vs["diff"][k], 4) for k in ("mean", "low", "high")},
            "wilcoxon_p": round(vs["test_p"], 4),
            "examples": vs["shared_examples"],
        }
    out["style_raised"] = out["style"]["diff"]["mean"] > 0
    out["rouge_within_sft_interval"] = out["rouge_l"]["grpo"]["mean"] >= out["rouge_l"]["sft"]["low"]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
