"""Report training to the run folder and the terminal."""

from __future__ import annotations

import time
from typing import Any

from tunesmith.core.rundir import RunDir


def make_reporting_callback(run_dir: RunDir, update: Any) -> Any:
    """A TrainerCallback writing every log to metrics.jsonl and driving the progress bar."""
    from transformers import TrainerCallback

    class Reporting(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.started = time.perf_counter()
            self.first_step: int | None = None
            self.tokens_at_start = 0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.first_step = state.global_step
            self.tokens_at_start = state.num_input_tokens_seen or 0
            update(state.global_step, total=state.max_steps)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            elapsed = time.perf_counter() - self.started
            tokens = (state.num_input_tokens_seen or 0) - self.tokens_at_start
            update(1, info=f"{tokens / max(elapsed, 1e-9):,.0f} tok/s")

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if not logs:
                return
            row = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4)}
            for key, value in logs.items():
                if isinstance(value, (int, float)):
                    row[key] = value
            row["tokens_seen"] = state.num_input_tokens_seen
            run_dir.log_metrics(**row)

    return Reporting()
