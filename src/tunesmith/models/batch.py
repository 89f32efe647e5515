"""A running batch of decoding rows: its cache, mask, positions and next inputs, and the edits between steps.

Rows are left-padded: every row's next token is the last column. Positions are
per row (a row's count of real tokens), so the padding a row carries changes
none of its results, and a batch can take in rows prefilled elsewhere (`absorb`)
or let rows go (`keep`) between any two steps. A batch whose rows all begin with the same prompt
prefix can hold that prefix's cache once (``prefix``, `models/cascade.py`): its mask and cache
columns are then each row's part after the prefix. The offline decoder
(`models/decode.py`) and the server's scheduler (`serve/scheduler.py`) both drive one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tunesmith.core.deps import require
from tunesmith.models import cascade, kvcache


@dataclass(eq=False)
class RunningBatch:
    cache: Any
    mask: Any  # (rows, cache length): 1 where a row has a real token
    position: Any  # (rows,): the position of each row's next input token
    next_ids: Any  # (rows,): each row's last chosen token, the next input
    prefix: tuple[int, ...] = ()  # the tokens every row begins with whose cache is held once, outside ``mask``

    @property
    def rows(self) -> int:
        return int(self.mask.shape[0])

    def step_inputs(self) -> dict[str, Any]:
        """The inputs of one decoding step (the cache included); `advance` records the step."""
        mask = require("torch").cat([self.mask, self.mask.new_ones((self.rows, 1))], dim=1)
        return {
            "input_ids": self.next_ids[:, None],
            "attention_mask": mask,
            "position_ids": self.position[:, None],
            "cache": self.cache,
        }

    def advance(self, inputs: dict[str, Any], chosen: Any) -> None:
        self.mask, self.position, self.next_ids = inputs["attention_mask"], self.position + 1, chosen

    def keep(self, rows: list[int]) -> list[int]:
        """Keep only ``rows`` (dropping the others' cache) and the columns some remaining row attends to;
        returns the kept rows in their new order (rows from the end fill the places of those that left)."""
        if len(rows) == self.rows:
            return list(range(self.rows))
        torch = require("torch")
        order = kvcache.keep_rows(self.cache, rows)
        index = torch.tensor(order, device=self.mask.device)
        self.mask, self.position, self.next_ids = self.mask[index], self.position[index], self.next_ids[index]
        used = self.mask.any(dim=0).nonzero()
        first = int(used[0]) if len(used) else 0
        if first > 0:  # every remaining row starts later: the leading columns are padding for all of them
            kvcache.drop_front(self.cache, first)
            self.mask = self.mask[:, first:]
        return order

    def absorb(self, other: RunningBatch) -> None:
        """``other``'s rows join below this batch's, both padded on the left to the longer."""
        torch = require("torch")
        functional = torch.nn.functional
        if self.prefix != other.prefix:
            keep = next(
                (i for i, (a, b) in enumerate(zip(self.prefix, other.prefix, strict=False)) if a != b),
                min(len(self.prefix), len(other.prefix)),
            )
            keep = keep if keep >= cascade.MIN_PREFIX else 0  # a short common part is copied, as it is alone
            self.demote(keep)
            other.demote(keep)
        length = max(self.mask.shape[1], other.mask.shape[1])
        kvcache.stack(self.cache, other.cache, length)
        self.mask = torch.cat(
            [
                functional.pad(self.mask, (length - self.mask.shape[1], 0)),
                functional.pad(other.mask, (length - other.mask.shape[1], 0)),
            ]
        )
        self.position = torch.cat([self.position, other.position])
        self.next_ids = torch.cat([self.next_ids, other.next_ids])

    def demote(self, keep: int) -> None:
        """Hold only the first ``keep`` tokens of the prefix once; the rest become every row's own columns."""
        moved = len(self.prefix) - keep
        if moved <= 0:
            return
        torch = require("torch")
        kvcache.demote(self.cache, keep)
        self.mask = torch.cat([self.mask.new_ones((self.rows, moved)), self.mask], dim=1)
        self.prefix = self.prefix[:keep]


def left_padded(prompts: list[list[int]], pad_id: int, device: Any) -> dict[str, Any]:
    """Prefill inputs for prompts of different lengths: ids and mask padded on the left, per-row positions."""
    torch = require("torch")
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
        mask[row, width - len(prompt) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    return {"input_ids": ids, "attention_mask": mask, "position_ids": (mask.cumsum(-1) - 1).clamp(min=0)}
