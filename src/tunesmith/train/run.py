"""`tunesmith train`: pick the recipe's module. Each recipe owns its training loop setup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesmith.core.rundir import RunDir
from tunesmith.models.spec import LocalModelRef
from tunesmith.train.config import PREFERENCE_RECIPES, SFT_RECIPES, TrainConfig
from tunesmith.train.sft import TrainResult


def run(
    cfg: TrainConfig,
    *,
    base: LocalModelRef,
    data_dir: Path,
    project_dir: Path,
    run_dir: RunDir,
    resume: bool = False,
    callbacks: list[Any] | None = None,
    rewards: tuple[list[Any], list[float]] | None = None,
) -> TrainResult:
    """``rewards``: grpo's reward functions and weights (built from the project by `tunesmith.rewards`)."""
    options: dict[str, Any] = {}
    if cfg.recipe in SFT_RECIPES:
        from tunesmith.train import sft as recipe
    elif cfg.recipe in PREFERENCE_RECIPES:
        from tunesmith.train import preference as recipe  # type: ignore[no-redef]
    elif cfg.recipe == "grpo":
        from tunesmith.train import grpo as recipe  # type: ignore[no-redef]

        options["rewards"] = rewards
    else:
        from tunesmith.train import rlhf as recipe  # type: ignore[no-redef]
    return recipe.run(
        cfg,
        base=base,
        data_dir=data_dir,
        project_dir=project_dir,
        run_dir=run_dir,
        resume=resume,
        callbacks=callbacks,
        **options,
    )
