from __future__ import annotations

from collections import Counter

from tunesmith.data.split import assign_splits, leakage, normalize


def test_normalize_folds_case_punctuation_and_space() -> None:
    assert normalize("  Hello,   WORLD!! ") == normalize("hello world")


def test_exact_fractions_and_determinism() -> None:
    keys = [[f"ticket number {i} about item {i * 7}"] for i in range(200)]
    a = assign_splits(keys, seed=1, val=0.1, test=0.2)
    assert a == assign_splits(keys, seed=1, val=0.1, test=0.2)
    assert a != assign_splits(keys, seed=2, val=0.1, test=0.2)
    assert Counter(a) == {"train": 140, "val": 20, "test": 40}


def test_stratified_by_label() -> None:
    keys = [[f"question {i}"] for i in range(100)]
    labels = ["rare" if i < 10 else "common" for i in range(100)]
    split = assign_splits(keys, seed=3, val=0.1, test=0.2, labels=labels)
    rare = Counter(s for s, lb in zip(split, labels, strict=True) if lb == "rare")
    assert rare == {"train": 7, "val": 1, "test": 2}


def test_duplicates_and_near_duplicates_stay_together() -> None:
    base = "my tent pole snapped on the second day of the trip what should i do now"
    keys = [[base, "a1"], [base.upper() + "!", "a2"], ["other question", "a1"], [base + " please", "a9"]] + [
        [f"unrelated question {i}", f"answer {i}"] for i in range(40)
    ]
    split = assign_splits(keys, seed=0, val=0.2, test=0.3, near_texts=[k[0] for k in keys], near_threshold=0.7)
    assert split[0] == split[1] == split[2] == split[3]
    assert leakage(split, [k[0] for k in keys], near_threshold=0.7) == {"exact": 0, "near": 0}


def test_leakage_is_reported() -> None:
    assert leakage(["train", "test"], ["Where is my order?", "where is my order"], near_threshold=None)["exact"] == 1
