"""Benchmark: a training job beside another computing process, with and without tunesmith's core sharing.

Two processes on the same cores: a LoRA-sized training loop (a random-initialized model of the bundled
model's shape, 8 layers, AdamW, batches of 4 x 128 tokens) and a decoding loop (the same shape, batches
of 32 rows), each started as tunesmith starts them (`core/cpu.py`'s lease held while computing, threads
looked at every step). Four cases, training tokens/s in each:

- alone: the training loop alone on the machine;
- shared: beside the decoding loop, both holding leases in the same folder (each gets its share of the
  cores: the default);
- unshared: beside the decoding loop, each in its own lease folder (they do not see each other: each
  takes every core, as before);
- unshared_passive: as unshared, with `OMP_WAIT_POLICY=PASSIVE` (threads sleep instead of spinning).

Prints one JSON object with the four rates and `shared_vs_unshared`.

    python bench/cpu_share.py [--steps 6]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def model(layers: int):  # type: ignore[no-untyped-def]
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=layers,
        num_attention_heads=9,
        num_key_value_heads=3,
    )
    return transformers.LlamaForCausalLM(config)


def train(steps: int) -> None:
    import torch

    from tunesmith.core import cpu

    net = model(8)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)
    ids = torch.randint(0, 49152, (4, 128))
    with cpu.computing():
        for step in range(steps + 1):
            if step == 1:  # the first step warms up
                started = time.perf_counter()
            cpu.rebalance()
            loss = net(input_ids=ids, labels=ids).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        rate = steps * ids.numel() / (time.perf_counter() - started)
        threads = torch.get_num_threads()
    print(json.dumps({"tokens_per_s": rate, "threads": threads}))


def decode(seconds: float) -> None:
    import torch

    from tunesmith.core import cpu

    net = model(8).eval()
    ids = torch.randint(0, 49152, (32, 1))
    end = time.monotonic() + seconds
    with cpu.computing(), torch.inference_mode():
        while time.monotonic() < end:
            cpu.rebalance()
            net(input_ids=ids)


def run_case(steps: int, *, beside: bool, shared: bool, passive: bool = False) -> dict:
    folders = [tempfile.mkdtemp(prefix="cpu-share-") for _ in range(2)]
    env = {**os.environ, "TUNESMITH_CPU_DIR": folders[0]}
    env.pop("OMP_NUM_THREADS", None)
    env.pop("TUNESMITH_THREADS", None)
    if passive:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    other = None
    if beside:
        other_env = {**env, "TUNESMITH_CPU_DIR": folders[0] if shared else folders[1]}
        other = subprocess.Popen([sys.executable, __file__, "--role", "decode"], env=other_env)
        time.sleep(8)  # its model is built and it is decoding
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--role", "train", "--steps", str(steps)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        if other is not None:
            other.kill()
            other.wait()
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--role", choices=["train", "decode"])
    args = parser.parse_args()
    if args.role == "train":
        return train(args.steps)
    if args.role == "decode":
        return decode(600)
    alone = run_case(args.steps, beside=False, shared=True)
    shared = run_case(args.steps, beside=True, shared=True)
    unshared = run_case(args.steps, beside=True, shared=False)
    passive = run_case(args.steps, beside=True, shared=False, passive=True)
    result = {
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "alone_tokens_per_s": round(alone["tokens_per_s"], 1),
        "shared_tokens_per_s": round(shared["tokens_per_s"], 1),
        "shared_threads": shared["threads"],
        "unshared_tokens_per_s": round(unshared["tokens_per_s"], 1),
        "unshared_threads": unshared["threads"],
        "unshared_passive_tokens_per_s": round(passive["tokens_per_s"], 1),
        "shared_vs_unshared": round(shared["tokens_per_s"] / unshared["tokens_per_s"], 2),
        "shared_vs_alone": round(shared["tokens_per_s"] / alone["tokens_per_s"], 2),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    main()
