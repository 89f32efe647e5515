"""The machine's compute limit, for the benchmarks' "share of the limit reached"."""

from __future__ import annotations

import time


def matmul_peak_gflops(size: int = 2048, repeats: int = 10) -> float:
    """The best fp32 GFLOP/s of a square matmul on this machine (the ceiling a dense model can reach)."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9
