"""Duplicate detection that keeps a record of everything it removes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from tunesmith.data.split import normalize

T = TypeVar("T")


def drop_exact_duplicates(items: Sequence[T], key: Callable[[T], str]) -> tuple[list[T], list[tuple[T, T]]]:
    """Keep the first of each normalized key; return (kept, [(dropped, the kept one it duplicates)])."""
    first: dict[str, T] = {}
    kept: list[T] = []
    dropped: list[tuple[T, T]] = []
    for item in items:
        k = normalize(key(item))
        if k in first:
            dropped.append((item, first[k]))
        else:
            first[k] = item
            kept.append(item)
    return kept, dropped


def group_related(keys_per_item: list[list[str]]) -> list[int]:
    """Union-find: items sharing any normalized key get the same group number.

    Used before splitting so two examples with the same input, or the same
    output, can never sit on both sides of the train/test boundary.
    """
    parent = list(range(len(keys_per_item)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, keys in enumerate(keys_per_item):
        for key in keys:
            k = normalize(key)
            if not k:
                continue
            if k in owner:
                a, b = find(i), find(owner[k])
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                owner[k] = i
    return [find(i) for i in range(len(keys_per_item))]
