"""Citation metrics on hand-made cases: which citations point at supporting chunks, which supporting points
were cited, and whether a cited sentence says what its point says."""

from __future__ import annotations

import math

import pytest

from tunesmith.data.instruction import cited, format_points, strip_citations
from tunesmith.eval.metrics.base import MetricContext
from tunesmith.eval.metrics.plugins import get_metric
from tunesmith.eval.scoring import score_outputs

POINTS = [
    {"chunk_id": "returns#1", "text": "Unused items can be returned within 60 days for a full refund."},
    {"chunk_id": "shipping#2", "text": "Standard shipping takes 3 to 6 business days."},
    {"chunk_id": "stoves#1", "text": "The Trailblaze stove uses isobutane canisters."},
]


def ctx(n: int, support: list[str]) -> MetricContext:
    return MetricContext(
        inputs=["q"] * n, contexts=[[p["text"] for p in POINTS]] * n, context_points=[POINTS] * n, support=[support] * n
    )


def test_markers_are_numbered_found_and_stripped() -> None:
    assert format_points(["a", "b"]).splitlines()[1:] == ["[1] a", "[2] b"]
    assert cited("Refunds take 60 days [1]. Shipping is quick [2][1].") == [1, 2]
    assert (
        strip_citations("Refunds take 60 days [1]. Shipping is quick [2][1].")
        == "Refunds take 60 days. Shipping is quick."
    )


def test_precision_and_recall_against_the_references_support() -> None:
    outputs = [
        "You can return unused items within 60 days [1].",  # cites the supporting point only
        "You can return unused items within 60 days [1]. Our stoves use isobutane [3].",  # one of two is right
        "You can return unused items within 60 days.",  # cites nothing
        "See point [7].",  # cites a point that was not in the prompt
    ]
    context = ctx(4, ["returns#1", "shipping#2"])
    precision = get_metric("citation_precision").score(outputs, [""] * 4, context)
    recall = get_metric("citation_recall").score(outputs, [""] * 4, context)
    assert precision[:2] == [1.0, 0.5] and math.isnan(precision[2]) and precision[3] == 0.0
    assert recall == [0.5, 0.5, 0.0, 0.0]  # two supporting points were in the prompt
    # nothing to judge without retrieval
    no_context = MetricContext(inputs=["q"], contexts=[[]], context_points=[[]], support=[["returns#1"]])
    assert math.isnan(get_metric("citation_precision").score(["x [1]"], [""], no_context)[0])
    assert math.isnan(get_metric("citation_recall").score(["x [1]"], [""], no_context)[0])


def test_a_cited_sentence_must_say_what_its_point_says() -> None:
    outputs = [
        "Unused items can be returned within 60 days for a full refund [1].",
        "Unused items can be returned within 60 days for a full refund [2].",  # cites the shipping point
    ]
    scores = get_metric("cited_groundedness").score(outputs, [""] * 2, ctx(2, []))
    assert scores == [1.0, 0.0]


def test_text_metrics_see_the_answer_without_its_markers() -> None:
    reference = "Unused items can be returned within 60 days."
    scores = score_outputs(["rouge_l"], ["Unused items can be returned within 60 days [1]."], [reference], ctx(1, []))
    assert scores["rouge_l"][0] == pytest.approx(1.0)
