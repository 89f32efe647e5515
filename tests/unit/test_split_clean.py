from __future__ import annotations

from tunesmith.data.clean import drop_exact_duplicates, group_related
from tunesmith.data.split import assign_split, normalize


def test_normalize_folds_case_punctuation_and_space() -> None:
    assert normalize("  Hello,   WORLD!! ") == normalize("hello world")


def test_split_is_deterministic_and_seeded() -> None:
    keys = [f"ticket number {i}" for i in range(400)]
    a = [assign_split(k, seed=1, val=0.1, test=0.2) for k in keys]
    b = [assign_split(k, seed=1, val=0.1, test=0.2) for k in keys]
    c = [assign_split(k, seed=2, val=0.1, test=0.2) for k in keys]
    assert a == b and a != c
    share = a.count("test") / len(a)
    assert 0.12 < share < 0.28


def test_duplicates_share_a_split() -> None:
    assert assign_split("Where is my order?", seed=3, val=0.3, test=0.3) == assign_split(
        "where is my ORDER", seed=3, val=0.3, test=0.3
    )


def test_drop_exact_duplicates_reports_what_it_kept() -> None:
    kept, dropped = drop_exact_duplicates(["A b", "a B!", "c"], key=lambda s: s)
    assert kept == ["A b", "c"]
    assert dropped == [("a B!", "A b")]


def test_group_related_links_shared_inputs_or_outputs() -> None:
    groups = group_related([["q1", "a1"], ["q2", "a1"], ["q2", "a3"], ["q4", "a4"]])
    assert groups[0] == groups[1] == groups[2]
    assert groups[3] != groups[0]
