"""Human labels, the judge checked against them, and the gates and studies that refuse an unchecked judge."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tunesmith.core.errors import ConfigError, DataError
from tunesmith.core.stats import bootstrap_statistic, holm, mcnemar, paired_comparison, wilcoxon_signed_rank
from tunesmith.eval.calibration import check_judge, cohen_kappa, latest_check, record, require_trusted_judge
from tunesmith.eval.config import EvalConfig
from tunesmith.eval.labels import LabelStore, for_rows, grade, human_summary, preference, review_items
from tunesmith.models.generation import Generation


def _rows(n: int = 6) -> list[dict[str, Any]]:
    """An evaluation's outputs: ``finetuned`` signs off like the company does, ``base`` does not."""
    rows = []
    for i in range(n):
        for system, text in (("base", f"Answer {i}."), ("finetuned", f"Answer {i}. Happy trails!")):
            rows.append(
                {"id": f"ex{i}", "system": system, "input": f"Question {i}?", "reference": "Ref.", "output": text}
            )
    return rows


class StyleJudge:
    """A judge with a rule for good: the sign-off. ``contrary`` inverts it (a judge people disagree with)."""

    def __init__(self, contrary: bool = False) -> None:
        self.contrary = contrary
        self.prompts: list[str] = []

    def generate(self, chats: list[Any], params: Any, **_: Any) -> list[Generation]:
        out = []
        for chat in chats:
            prompt = chat[-1]["content"]
            self.prompts.append(prompt)
            if "Reply A:" in prompt:
                a = prompt.split("Reply A:\n")[1].split("\n\nReply B:")[0]
                b = prompt.split("Reply B:\n")[1].split("\n\nWhich")[0]
                good_a, good_b = ("Happy trails" in a) != self.contrary, ("Happy trails" in b) != self.contrary
                text = "A" if good_a and not good_b else "B" if good_b and not good_a else "tie"
            else:
                reply = prompt.split("Reply to grade:\n")[1]
                text = "Score: 9" if ("Happy trails" in reply) != self.contrary else "Score: 2"
            out.append(Generation(text, 1, 1, "stop", 0.0))
        return out


def _label_all(store: LabelStore, rows: list[dict[str, Any]], who: str = "ana") -> None:
    """A person who agrees with the style rule: the sign-off passes with 5, its absence fails with 1 or 2."""
    for i, row in enumerate(rows):
        good = "Happy trails" in row["output"]
        store.add(grade(run="r1", row=row, who=who, passed=good, score=5 if good else 1 + (i // 2) % 2))
    by_id: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_id.setdefault(row["id"], {})[row["system"]] = row
    for n, outs in enumerate(by_id.values()):
        left, right = (outs["base"], outs["finetuned"]) if n % 2 else (outs["finetuned"], outs["base"])
        choice = "left" if left["system"] == "finetuned" else "right"
        store.add(preference(run="r1", left=left, right=right, who=who, choice=choice))


# -- paired tests --------------------------------------------------------------------------------
def test_mcnemar_counts_only_discordant_pairs() -> None:
    a = np.array([1, 1, 1, 1, 1, 1, 1, 0, 1, 1], dtype=bool)
    b = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1], dtype=bool)
    assert mcnemar(a, b) == pytest.approx(2 * 0.5**7)  # 7 discordant pairs, all one way
    assert mcnemar(a, a) == 1.0
    c = paired_comparison("x", "y", "exact", list(a.astype(float)), list(b.astype(float)))
    assert c.test == "mcnemar" and c.test_p == pytest.approx(2 * 0.5**7)


def test_wilcoxon_for_graded_scores_and_no_difference_is_p_one() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, 30)
    c = paired_comparison("ft", "base", "rouge_l", list(base + rng.normal(0.1, 0.05, 30)), list(base))
    assert c.test == "wilcoxon" and c.test_p < 1e-4
    assert wilcoxon_signed_rank(np.zeros(10)) == 1.0


def test_holm_adjusts_step_down_in_input_order() -> None:
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([]) == []


def test_bootstrap_statistic_interval_covers_the_point() -> None:
    a = np.array([1, 1, 0, 0, 1, 0, 1, 1, 0, 1] * 3, dtype=float)
    b = a.copy()
    b[:4] = 1 - b[:4]
    interval = bootstrap_statistic(lambda idx: cohen_kappa(a[idx], b[idx]), len(a), resamples=300)
    assert interval.low <= interval.mean <= interval.high and interval.n == 30
    # kappa by hand: 26 of 30 agree; each rater's pass rate 0.6 and 0.6 -> chance 0.52
    assert cohen_kappa(a, b) == pytest.approx((26 / 30 - 0.52) / 0.48)
    assert math.isnan(cohen_kappa(np.ones(5), np.ones(5)))  # one class: kappa is undefined, not 1


# -- the label store -----------------------------------------------------------------------------
def test_labels_survive_reruns_with_the_same_output_and_not_a_changed_one(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "labels" / "labels.jsonl")
    rows = _rows(2)
    store.add(grade(run="r1", row=rows[1], who="ana", passed=False, score=2))
    store.add(grade(run="r1", row=rows[1], who="ana", passed=True, score=4))  # ana changed her mind
    store.add(grade(run="r1", row=rows[1], who="bo", passed=True, score=5))
    assert len(store.all()) == 3 and len(store.current()) == 2
    assert {(lab.who, lab.score) for lab in store.current()} == {("ana", 4), ("bo", 5)}
    rerun = [dict(r) for r in rows]  # a later evaluation: same outputs (greedy), its own run id
    assert len(for_rows(store.current(), rerun)) == 2
    rerun[1]["output"] = "A different answer now."
    assert for_rows(store.current(), rerun) == []
    with pytest.raises(DataError, match="pass/fail, a 1-5 score"):
        grade(run="r1", row=rows[0], who="ana", passed=None, score=None)


def test_a_damaged_labels_file_names_the_line(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "labels.jsonl")
    store.add(grade(run="r1", row=_rows(1)[0], who="ana", passed=True, score=None))
    with store.path.open("a") as handle:
        handle.write('{"kind": "grade", "score": 9}\n')
    with pytest.raises(DataError) as err:
        store.all()
    assert err.value.where == f"{store.path}:2"


def test_review_is_blind_shuffled_and_positions_are_random_per_example(tmp_path: Path) -> None:
    rows = _rows(40)
    items = review_items(rows, [], run="r1", who="ana")
    assert len(items) == 80 and [i.shown[0]["system"] for i in items[:6]] != ["base", "finetuned"] * 3
    assert [i.example for i in items] == [i.example for i in review_items(rows, [], run="r1", who="ana")]
    pairs = review_items(rows, [], run="r1", who="ana", pair=("base", "finetuned"))
    firsts = [p.shown[0]["system"] for p in pairs]
    assert len(pairs) == 40 and 10 < firsts.count("base") < 30  # both orders, about half each
    store = LabelStore(tmp_path / "l.jsonl")
    store.add(preference(run="r1", left=pairs[0].shown[0], right=pairs[0].shown[1], who="ana", choice="tie"))
    again = review_items(rows, store.current(), run="r1", who="ana", pair=("finetuned", "base"))
    assert sum(p.label is not None for p in again) == 1  # the pair is the same pair whichever way it is named


def test_human_summary_pass_rates_scores_and_win_rates(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "l.jsonl")
    rows = _rows(6)
    _label_all(store, rows)
    summary = human_summary(for_rows(store.current(), rows), resamples=200)
    assert summary is not None and summary["labels"] == 18 and summary["labellers"] == ["ana"]
    assert summary["systems"]["finetuned"]["pass_rate"]["mean"] == 1.0
    assert summary["systems"]["base"]["pass_rate"]["mean"] == 0.0
    assert summary["systems"]["base"]["score"]["mean"] == pytest.approx(1.5)
    (win,) = summary["pairwise"]
    assert (win["system"], win["other"], win["win_rate"]["mean"], win["win_rate"]["n"]) == ("finetuned", "base", 1.0, 6)


# -- the judge check -----------------------------------------------------------------------------
def _cfg(**check: Any) -> EvalConfig:
    return EvalConfig.model_validate(
        {"judge": {"endpoint": "http://127.0.0.1:9/v1", "model": "judge"}, "judge_check": {"min_labels": 4, **check}}
    )


def test_a_judge_that_agrees_is_trusted_and_one_that_does_not_is_not(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "l.jsonl")
    _label_all(store, _rows(6))
    labels = store.current()
    agreeing = StyleJudge()
    good = check_judge(_cfg(resamples=200), agreeing, labels)
    stats = good["statistics"]
    assert stats["kappa"]["mean"] == 1.0 and stats["pairwise_accuracy"]["mean"] == 1.0
    assert stats["spearman"]["mean"] > 0.8 and stats["kendall"]["mean"] > 0.7 and stats["kendall"]["passed"] is None
    assert good["trusted"] and good["disagreements"] == [] and good["reason"].startswith("trusted")
    # the labels are never shown to the judge: no prompt carries a person's verdict or note
    assert not any("ana" in p or "pass" in p.lower().split("rubric")[0] for p in agreeing.prompts)

    bad = check_judge(_cfg(resamples=200), StyleJudge(contrary=True), labels)
    assert bad["statistics"]["kappa"]["mean"] == -1.0 and not bad["trusted"]
    assert "kappa value -1.000 < 0.4" in bad["reason"]
    gaps = [d["gap"] for d in bad["disagreements"]]
    assert gaps == sorted(gaps, reverse=True) and len(bad["disagreements"]) == 18

    few = check_judge(_cfg(min_labels=50, resamples=200), agreeing, labels)
    assert not few["trusted"] and few["reason"].startswith("too few labels")


def test_gates_and_studies_refuse_a_judge_without_a_passing_check(tmp_path: Path) -> None:
    cfg = _cfg(resamples=200)
    with pytest.raises(ConfigError, match="has not been checked"):
        require_trusted_judge(tmp_path, cfg, "the gate check 'voice'")
    store = LabelStore(tmp_path / "labels" / "labels.jsonl")
    _label_all(store, _rows(6))
    record(tmp_path, cfg, check_judge(cfg, StyleJudge(contrary=True), store.current()), store.path)
    with pytest.raises(ConfigError, match="found it not trusted: kappa"):
        require_trusted_judge(tmp_path, cfg, "the gate check 'voice'")
    run = record(tmp_path, cfg, check_judge(cfg, StyleJudge(), store.current()), store.path)
    assert require_trusted_judge(tmp_path, cfg, "x")["run"] == run.id
    assert json.loads(run.path("check.json").read_text())["labels"] == {
        "grades": 12,
        "pairwise": 6,
        "judge_unanswered": 0,
    }
    # another rubric is another judge: its check starts over
    other = cfg.model_copy(update={"rubric": "Is it short?"})
    assert latest_check(tmp_path, other) is None
    with pytest.raises(ConfigError, match="has not been checked"):
        require_trusted_judge(tmp_path, other, "x")


def test_the_gate_asks_before_it_loads_a_model(tmp_path: Path) -> None:
    from tunesmith.core.rundir import RunDir
    from tunesmith.gate.config import GatesConfig
    from tunesmith.gate.run import run as gate

    (tmp_path / "cases.jsonl").write_text(json.dumps({"id": "r", "input": "refund?", "rubric": "Polite?"}) + "\n")
    asked: list[str] = []

    def refuse(use: str) -> None:
        asked.append(use)
        raise ConfigError(f"{use} uses the LLM judge")

    def never() -> Any:
        raise AssertionError("the model was loaded before the judge was trusted")

    for gates, expected in (
        ({"checks": [], "regression": {"path": "cases.jsonl"}}, "regression suite cases.jsonl"),
        ({"checks": [{"name": "voice", "metric": "judge_score", "system": "finetuned", "min": 0.5}]}, "'voice'"),
    ):
        cfg = GatesConfig.model_validate({"pii": None, "toxicity": None, "retention": None, **gates})
        with pytest.raises(ConfigError):
            gate(
                cfg,
                eval_dir=tmp_path,
                run_dir=RunDir.create(tmp_path / "runs", "gate"),
                project_dir=tmp_path,
                subject=never,
                trust_judge=refuse,
            )
        assert expected in asked[-1]


def test_tuning_on_the_judges_metric_refuses_an_unchecked_judge(tmp_path: Path) -> None:
    from tunesmith.gate.config import GatesConfig
    from tunesmith.tune.config import TuneConfig
    from tunesmith.tune.run import _trust_judge

    cfg = _cfg()
    gates = GatesConfig.model_validate({"pii": None, "toxicity": None, "retention": None})
    with pytest.raises(ConfigError, match="the tuning objective judge_score"):
        _trust_judge(TuneConfig(), ["rouge_l", "judge_score"], cfg, gates, tmp_path)
    # groundedness is the judge's when one is configured
    with pytest.raises(ConfigError, match="objective groundedness"):
        _trust_judge(TuneConfig(), ["groundedness"], cfg, gates, tmp_path)
    _trust_judge(TuneConfig(), ["rouge_l"], cfg, gates, tmp_path)  # no judge involved: nothing asked
    _trust_judge(TuneConfig(), ["groundedness"], EvalConfig(), gates, tmp_path)  # embeddings, not a judge
