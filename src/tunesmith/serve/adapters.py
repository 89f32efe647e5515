"""Many fine-tunes on one base: adapters loaded on first use, least recently used evicted past a budget.

Each adapter costs its own weights (megabytes for LoRA), never another copy of
the base model. Loading, eviction and generation happen under one lock, so an
adapter is never evicted while a batch is using it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from tunesmith.models.local import LocalGenerator


def adapter_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.glob("adapter_model.*") if f.is_file()) or 1


class AdapterCache:
    def __init__(self, generator: LocalGenerator, *, budget_bytes: int) -> None:
        self.generator = generator
        self.budget = budget_bytes
        self.lock = threading.RLock()
        self._loaded: OrderedDict[str, int] = OrderedDict()
        self.loads = 0
        self.evictions = 0

    def ensure(self, name: str, path: Path, *, keep: set[str] | None = None) -> None:
        """Make ``name`` loaded and most recently used; call with ``lock`` held. Adapters in ``keep`` (those of
        batches still running) are not evicted, whatever the budget."""
        if name in self._loaded:
            self._loaded.move_to_end(name)
            return
        self.trim(keep or set(), room=adapter_bytes(path))
        size = adapter_bytes(path)
        self.generator.add_adapter(name, path)
        self._loaded[name] = size
        self.loads += 1

    def trim(self, keep: set[str], room: int = 0) -> None:
        """Evict least recently used adapters not in ``keep`` until ``room`` more bytes fit the budget (never the
        last one loaded). Batches of several adapters running at once may hold more than the budget while they
        run; the scheduler trims back when one ends."""
        while sum(self._loaded.values()) + room > self.budget:
            victim = next((a for a in self._loaded if a not in keep), None)
            if victim is None or len(self.generator.adapters) < 2:
                break
            del self._loaded[victim]
            self.generator.remove_adapter(victim)
            self.evictions += 1

    def stats(self) -> dict[str, object]:
        return {
            "loaded": list(self._loaded),
            "bytes": sum(self._loaded.values()),
            "budget_bytes": self.budget,
            "loads": self.loads,
            "evictions": self.evictions,
        }
