"""Deterministic, stratified splits that never put duplicates on both sides.

Examples are first grouped: two examples sharing a normalized input or output,
or whose inputs are near-duplicates (MinHash), form one group, and a group goes
to one split whole, so nothing in test was seen in training. Groups are then
allocated per label (when a label field is declared) by their hash rank under
the seed, with largest-remainder rounding: every label is represented in
proportion and the overall fractions are met exactly. The same rows and seed
always give the same split, which is how the baseline stage finds the
validation split before the data stage has run.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter, defaultdict

SPLITS = ("train", "val", "test")


def normalize(text: str) -> str:
    """Case, accents, punctuation and whitespace folded: the key for duplicate detection."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^\w\s]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _hash(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}\x00{key}".encode()).hexdigest()


def _groups(keys: list[list[str]], near_texts: list[str] | None, near_threshold: float | None) -> list[int]:
    parent = list(range(len(keys)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    owner: dict[str, int] = {}
    for i, item_keys in enumerate(keys):
        for key in item_keys:
            k = normalize(key)
            if k:
                if k in owner:
                    union(i, owner[k])
                else:
                    owner[k] = i
    if near_texts is not None and near_threshold is not None:
        from tunesmith.data.near_dup import NearDuplicateIndex

        index = NearDuplicateIndex(near_threshold)
        for i, text in enumerate(near_texts):
            match = index.find(text)
            if match is not None:
                union(i, int(match[0]))
            index.add(str(i), text)
    return [find(i) for i in range(len(keys))]


def _largest_remainder(sizes: dict[str, int], fraction: float, seed: int) -> dict[str, int]:
    """Per-label counts summing to round(total * fraction), each within 1 of its proportional share."""
    exact = {label: n * fraction for label, n in sizes.items()}
    counts = {label: math.floor(x) for label, x in exact.items()}
    target = math.floor(sum(sizes.values()) * fraction + 0.5)
    order = sorted(exact, key=lambda lb: (-(exact[lb] - counts[lb]), _hash(seed, f"label:{lb}")))
    for label in order[: max(0, target - sum(counts.values()))]:
        counts[label] += 1
    return counts


def assign_splits(
    keys: list[list[str]],
    *,
    seed: int,
    val: float,
    test: float,
    labels: list[str | None] | None = None,
    near_texts: list[str] | None = None,
    near_threshold: float | None = None,
) -> list[str]:
    """The split of each item. ``keys``: texts that make two items duplicates (e.g. input and output)."""
    if not keys:
        return []
    group_of = _groups(keys, near_texts, near_threshold)
    members: dict[int, list[int]] = defaultdict(list)
    for i, group in enumerate(group_of):
        members[group].append(i)
    group_key = {g: min(normalize(k) for i in items for k in keys[i]) for g, items in members.items()}
    group_label: dict[int, str] = {}
    for g, items in members.items():
        votes = Counter(str(labels[i]) if labels and labels[i] is not None else "" for i in items)
        group_label[g] = min(votes, key=lambda lb: (-votes[lb], lb))
    by_label: dict[str, list[int]] = defaultdict(list)
    for g in members:
        by_label[group_label[g]].append(g)
    for groups in by_label.values():
        groups.sort(key=lambda g: _hash(seed, group_key[g]))
    sizes = {label: len(groups) for label, groups in by_label.items()}
    n_test = _largest_remainder(sizes, test, seed)
    remaining = {label: sizes[label] - n_test[label] for label in sizes}
    # val is a fraction of everything, so of the remainder it is val / (1 - test)
    n_val = _largest_remainder(remaining, val / (1 - test) if test < 1 else 0.0, seed + 1)
    split_of_group: dict[int, str] = {}
    for label, groups in by_label.items():
        for rank, g in enumerate(groups):
            if rank < n_test[label]:
                split_of_group[g] = "test"
            elif rank < n_test[label] + n_val[label]:
                split_of_group[g] = "val"
            else:
                split_of_group[g] = "train"
    return [split_of_group[g] for g in group_of]


def leakage(split_of: list[str], keys: list[str], *, near_threshold: float | None = 0.85) -> dict[str, int]:
    """Exact and near duplicates of ``keys`` found across different splits (0 when the split is clean)."""
    exact: dict[str, str] = {}
    found = Counter()
    for split, key in zip(split_of, keys, strict=True):
        k = normalize(key)
        if k in exact and exact[k] != split:
            found["exact"] += 1
        exact.setdefault(k, split)
    if near_threshold is not None:
        from tunesmith.data.near_dup import NearDuplicateIndex

        index = NearDuplicateIndex(near_threshold)
        for i, (split, key) in enumerate(zip(split_of, keys, strict=True)):
            match = index.find(key)
            if match is not None and split_of[int(match[0])] != split:
                found["near"] += 1
            index.add(str(i), key)
    return {"exact": found["exact"], "near": found["near"]}
