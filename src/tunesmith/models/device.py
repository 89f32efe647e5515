"""Pick the device and dtype: fp32 on CPU, bf16 on GPUs that support it."""

from __future__ import annotations

from typing import Any

from tunesmith.core.errors import ConfigError


def pick_device(requested: str = "auto") -> str:
    import torch

    if requested != "auto":
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(
                f"device '{requested}' was asked for but CUDA is not available",
                fix="Use device: auto or cpu, or install a CUDA build of torch.",
            )
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(device: str, requested: str = "auto") -> Any:
    """bf16 matmuls on the reference CPUs run about 3x slower than fp32, so CPU gets fp32."""
    import torch

    names = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float16": torch.float16,
        "fp16": torch.float16,
    }
    if requested != "auto":
        if requested not in names:
            raise ConfigError(f"unknown dtype '{requested}'", fix=f"Use one of: auto, {', '.join(names)}.")
        return names[requested]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def free_memory(device: Any) -> int:
    """Bytes free on ``device`` now: the GPU's free memory, else the machine's available memory (0 if unknown,
    so callers that ask whether something fits decline)."""
    import torch

    kind = getattr(device, "type", str(device).split(":")[0])
    if kind == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    if kind != "cpu":
        return 0
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        return 0
