"""Library progress bars off: tunesmith draws its own, one per step, with ETA."""

from __future__ import annotations

import functools
import logging
import warnings


@functools.cache
def quiet_libraries() -> None:
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as hf_logging

    disable_progress_bars()
    hf_logging.disable_progress_bar()
    # "generation flags are not valid" and similar notes are about settings we pass on purpose
    hf_logging.set_verbosity_error()
    # bitsandbytes tries to fetch an optional CPU kernel from the hub at import and
    # warns when it cannot; its built-in kernel is used instead, so the note is noise
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    # TRL and PEFT still read transformers' deprecated `is_gradient_checkpointing`; not ours to fix
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
