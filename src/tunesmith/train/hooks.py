"""Extra Trainer callbacks for whoever runs a training in-process (the tuner's pruning callback)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

EXTRA_CALLBACKS: ContextVar[tuple[Any, ...]] = ContextVar("tunesmith_extra_callbacks", default=())


@contextmanager
def extra_callbacks(callbacks: list[Any]) -> Iterator[None]:
    token = EXTRA_CALLBACKS.set(tuple(callbacks))
    try:
        yield
    finally:
        EXTRA_CALLBACKS.reset(token)
