"""Library progress bars off: tunesmith draws its own, one per step, with ETA."""

from __future__ import annotations

import functools


@functools.cache
def quiet_libraries() -> None:
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as hf_logging

    disable_progress_bars()
    hf_logging.disable_progress_bar()
    # "generation flags are not valid" and similar notes are about settings we pass on purpose
    hf_logging.set_verbosity_error()
