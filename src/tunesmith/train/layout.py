"""Where a training run keeps what it made: one place that knows the folder names.

runs/<id>/adapter/       a LoRA-family run's adapter (with tokenizer and chat template)
runs/<id>/model/         a full fine-tune's weights (same)
runs/<id>/checkpoints/   checkpoint-N folders, each marked COMPLETE once whole
"""

from __future__ import annotations

from pathlib import Path

from tunesmith.core.rundir import RunDir

ADAPTER_DIR = "adapter"
MODEL_DIR = "model"
CHECKPOINTS_DIR = "checkpoints"


def trained_weights(run: RunDir) -> Path:
    """The adapter folder of a LoRA-family run, or the model folder of a full fine-tune."""
    adapter = run.path(ADAPTER_DIR)
    return adapter if adapter.is_dir() else run.path(MODEL_DIR)


def adapter_of(run: RunDir) -> Path | None:
    """The run's adapter when it has a loadable one (a full fine-tune or an unfinished run has none)."""
    adapter = run.path(ADAPTER_DIR)
    return adapter if (adapter / "adapter_config.json").is_file() else None
