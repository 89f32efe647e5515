"""Benchmark: LoRA training steps under `torch.compile` against eager PyTorch, on this machine.

Training leaves `torch.compile` off (train/kernels.py); this is the measurement behind that choice. Each
mode runs in its own process with an empty inductor cache (a user's first run pays the compilation): the
bundled SmolLM2-135M in fp32, LoRA r=16 on all linear layers, AdamW, micro batches of 4 rows whose lengths
vary as the example's do (150-420 tokens, the same seeded sequence for both modes), forward + backward +
optimizer step. The compiled mode uses `dynamic=True`, its best case for varying lengths (a static compile
recompiles for every new length).

Prints one JSON object: per mode the first step's seconds (compilation included) and tokens/s over the
steps after it, `steady_speedup` (compiled over eager, after compilation) and `break_even_steps` (how many
steps the compiled run needs before its compilation is paid back; null when it never is).

    python bench/compile.py [--steps 12] [--micro-batch 4]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def worker(mode: str, steps: int, micro_batch: int) -> dict:
    import random
    import time

    import torch
    from peft import LoraConfig, get_peft_model

    from tunesmith.models.local import load_causal_lm
    from tunesmith.models.resolve import DEFAULT_MODEL
    from tunesmith.models.spec import LocalModelRef

    model, _, _ = load_causal_lm(LocalModelRef(id=DEFAULT_MODEL), REPO, device="cpu")
    model = get_peft_model(
        model.float(), LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
    )
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    forward = torch.compile(model, dynamic=True) if mode == "compiled" else model
    rng = random.Random(0)
    lengths = [rng.randint(150, 420) for _ in range(steps + 1)]
    vocab = model.config.vocab_size
    torch.manual_seed(0)

    def step(length: int) -> float:
        ids = torch.randint(0, vocab, (micro_batch, length))
        started = time.perf_counter()
        forward(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return time.perf_counter() - started

    first = step(lengths[0])
    rest = [step(n) for n in lengths[1:]]
    tokens = micro_batch * sum(lengths[1:])
    return {
        "first_step_s": round(first, 2),
        "tokens_per_s": round(tokens / sum(rest), 1),
        "step_s": round(sum(rest) / len(rest), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--micro-batch", type=int, default=4)
    parser.add_argument("--worker", choices=["eager", "compiled"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps, args.micro_batch)))
        return
    results = {}
    for mode in ("eager", "compiled"):
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache, "HF_HUB_OFFLINE": "1"}
            command = [sys.executable, __file__, "--worker", mode, "--steps", str(args.steps)]
            command += ["--micro-batch", str(args.micro_batch)]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    eager, compiled = results["eager"], results["compiled"]
    saved_per_step = eager["step_s"] - compiled["step_s"]
    paid = compiled["first_step_s"] - eager["first_step_s"]
    print(
        json.dumps(
            {
                "steps": args.steps,
                "micro_batch": args.micro_batch,
                "cores": os.cpu_count(),
                **results,
                "steady_speedup": round(eager["step_s"] / compiled["step_s"], 3),
                "break_even_steps": round(paid / saved_per_step) if saved_per_step > 0 else None,
            }
        )
    )


if __name__ == "__main__":
    main()
