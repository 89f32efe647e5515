"""The general prompt sets shipped with tunesmith: large enough to decide, and kept apart from each other."""

from __future__ import annotations

from pathlib import Path

from tunesmith.data.general import agreement_prompts, check_disjoint, held_out_texts, probe_items, replay_prompts


def test_the_probe_is_large_and_every_item_can_be_scored() -> None:
    items = probe_items()
    assert len(items) >= 300 and len({i["id"] for i in items}) == len(items)
    assert {i["skill"] for i in items} == {"arithmetic", "geography", "science", "language", "knowledge", "instruction"}
    assert all(i["answers"] and all(isinstance(a, str) and a for a in i["answers"]) for i in items)
    assert len(agreement_prompts()) >= 100


def test_replay_prompts_are_diverse_and_never_the_probe() -> None:
    prompts = replay_prompts()
    assert len(prompts) >= 300 and len({p["kind"] for p in prompts}) >= 5
    # no replay prompt is an exact or near duplicate of a prompt the retention measurement asks
    assert check_disjoint(prompts, held_out_texts()) == []
    # and the two measurement sets do not overlap either
    probe = [(i["id"], i["question"]) for i in probe_items()]
    assert check_disjoint(agreement_prompts(), probe) == []


def test_a_users_own_prompts_that_copy_the_probe_are_caught(tmp_path: Path) -> None:
    mine = tmp_path / "general.txt"
    mine.write_text("what is the capital of france?\nTranslate 'good night' into French.\nWrite a haiku about tea.\n")
    found = {o.prompt: o for o in check_disjoint(replay_prompts(mine), held_out_texts())}
    assert found["what is the capital of france?"].similarity == 1.0  # exact, after normalization
    assert "Translate 'good night' into French." in found  # near: the probe asks it in Spanish
    assert "Write a haiku about tea." not in found
