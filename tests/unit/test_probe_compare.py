from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesmith.core.rundir import RunDir
from tunesmith.eval.compare import compare_runs
from tunesmith.eval.probe import correct, load_probe, settled


def test_probe_ships_with_the_package_and_scores_by_containment() -> None:
    items = load_probe()
    # large enough that the retention interval can decide (about +-0.05 at 362 paired items)
    assert len(items) >= 300 and len({i["skill"] for i in items}) == 6
    assert correct("The capital of France is Paris.", ["paris"])
    assert not correct("It is Parisian style.", ["paris"])
    assert correct("APPLE", ["APPLE"]) and not correct("apple", ["APPLE"])


def test_an_answer_is_settled_only_when_nothing_written_after_it_can_change_its_score() -> None:
    assert not settled("The capital of France is", ["paris"])
    assert not settled("The capital of France is Paris", ["paris"])  # "Parisian" may follow
    assert settled("The capital of France is Paris.", ["paris"])
    assert settled("Paris is", ["paris"]) and not settled("Parisi", ["paris"])
    assert not settled("Paris\ufffd", ["paris"])  # half a character: maybe "Parisé"
    assert settled("It is APPLE", ["APPLE"]) and not settled("It is apple.", ["APPLE"])
    # whatever follows a settled text, the score stays what it was
    for text, answer in [("Paris, of course", "paris"), ("42 apples", "42"), ("GREEN", "GREEN")]:
        for cut in range(len(text) + 1):
            if settled(text[:cut], [answer]):
                assert correct(text[:cut], [answer]) and correct(text, [answer])


def _eval_run(root: Path, name: str, scores: dict[str, list[float]]) -> RunDir:
    run = RunDir.create(root, "eval", name=name)
    rows = [
        {"id": f"e{i}", "system": system, "scores": {"rouge_l": v}}
        for system, values in scores.items()
        for i, v in enumerate(values)
    ]
    run.path("outputs.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    run.finish()
    return run


def test_compare_runs_pairs_on_shared_examples(tmp_path: Path) -> None:
    old = _eval_run(tmp_path, "old", {"finetuned": [0.2, 0.3, 0.4, 0.5]})
    new = _eval_run(tmp_path, "new", {"finetuned": [0.3, 0.4, 0.5, 0.6], "base": [0.1, 0.1, 0.2, 0.2]})
    result = compare_runs([old, new], "rouge_l", resamples=500)
    by = {(e["run"], e["system"]): e for e in result["entries"]}
    assert by[("new", "finetuned")]["vs_first"]["diff"]["mean"] == pytest.approx(0.1)
    assert by[("new", "finetuned")]["vs_first"]["real"] and by[("new", "finetuned")]["vs_first"]["shared_examples"] == 4
    assert by[("new", "base")]["vs_first"]["diff"]["mean"] < 0
