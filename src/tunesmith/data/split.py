"""Deterministic splits by hashing, so duplicates always land in the same split.

Each example's split is a function of (seed, its normalized text) alone:
identical or trivially different copies hash alike and cannot leak from train
into test, adding rows never moves existing rows, and the baseline stage can
find the validation split before the data stage has run.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

SPLITS = ("train", "val", "test")


def normalize(text: str) -> str:
    """Case, accents, punctuation and whitespace folded: the key for duplicate detection."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^\w\s]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def assign_split(key: str, *, seed: int, val: float, test: float) -> str:
    digest = hashlib.sha256(f"{seed}\x00{normalize(key)}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < test:
        return "test"
    if u < test + val:
        return "val"
    return "train"
