"""Checkpoints a crash cannot corrupt.

The Trainer writes a checkpoint folder file by file (weights, optimizer,
scheduler, RNG states, trainer state); a process killed halfway leaves a folder
that looks like a checkpoint but is not one. The callback below writes a
`COMPLETE` marker, atomically, after the Trainer has finished saving (its
`on_save` hook runs only then), and resuming only ever picks a marked folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tunesmith.core.atomic import atomic_write_text

MARKER = "COMPLETE"
_STEP = re.compile(r"checkpoint-(\d+)$")


def make_marker_callback() -> Any:
    from transformers import TrainerCallback

    class MarkComplete(TrainerCallback):  # type: ignore[misc]
        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                if folder.is_dir():
                    atomic_write_text(folder / MARKER, f"step {state.global_step}\n")

    return MarkComplete()


def complete_checkpoints(folder: Path) -> list[Path]:
    if not folder.exists():
        return []
    done = [p for p in folder.iterdir() if _STEP.search(p.name) and (p / MARKER).is_file()]
    return sorted(done, key=lambda p: int(_STEP.search(p.name).group(1)))  # type: ignore[union-attr]


def last_complete_checkpoint(folder: Path) -> Path | None:
    done = complete_checkpoints(folder)
    return done[-1] if done else None
