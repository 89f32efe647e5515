"""The GPU benchmark's code runs (on a tiny model, on CPU), so it is ready the moment a GPU is lent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_gpu_benchmark_runs_tiny_on_cpu_and_ends_with_its_json() -> None:
    # this interpreter, wherever the checkout and its environment are
    done = subprocess.run(
        [str(REPO / "bench/gpu/run.sh"), "--tiny"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("lora_speedup", "lora_memory_ratio", "full_mfu", "loss_agreement", "generate_tokens_per_s"):
        assert key in report
    assert report["tiny"] and report["lora_speedup"] > 0 and report["generate_tokens_per_s"] > 0
    # the same rows, model and settings: both sides' losses agree (only the loss's arithmetic differs)
    assert report["loss_agreement"] > 0.99
    assert 0 < report["full_mfu"] < 1
    assert set(report["lora_kernels"]) == {"attention", "padding_free", "liger", "activation_checkpointing", "compile"}
