"""The relevance gate on the example's knowledge base: calibrated on half of a labelled set of in-scope and
off-scope queries, it keeps retrieval for the other half's support questions and stays silent for requests
the knowledge base has nothing to say about."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import EXAMPLE
from tunesmith.knowledge.config import KnowledgeConfig
from tunesmith.knowledge.ingest import ingest
from tunesmith.knowledge.rag import RuntimeRag, calibrate_relevance, relevance_threshold

OFF_SCOPE = [
    "Write me a poem about the sea.",
    "Can you do my taxes for me this year?",
    "What's your opinion on the president?",
    "Tell me a joke about cats.",
    "Help me write a cover letter for a bank job.",
    "Which cryptocurrency will go up next week?",
    "What is 17 times 23?",
    "Translate 'good morning' into German.",
    "Who won the football world cup in 2018?",
    "Can you tell me what this rash on my arm is?",
    "Write a bedtime story about a dragon.",
    "What is the capital of Australia?",
    "Summarize the plot of Hamlet.",
    "How do I fix a Python import error?",
    "Give me a recipe for banana bread.",
    "What should I name my new puppy?",
]


@pytest.fixture(scope="module")
def rag(tmp_path_factory: pytest.TempPathFactory) -> RuntimeRag:
    project = tmp_path_factory.mktemp("relevance")
    shutil.copytree(EXAMPLE / "kb", project / "kb")
    knowledge = KnowledgeConfig()
    ingest(knowledge, project)
    return RuntimeRag.open(knowledge, project)


def test_the_gate_keeps_support_questions_and_silences_the_rest(rag: RuntimeRag) -> None:
    in_scope = [json.loads(line)["query"] for line in (EXAMPLE / "kb_queries.jsonl").read_text().splitlines()]
    scores_in = [r.relevance for r in rag.retrieve(in_scope, gated=False)]
    scores_out = [r.relevance for r in rag.retrieve(OFF_SCOPE, gated=False)]
    calibration = calibrate_relevance(scores_in[::2], scores_out[::2])
    threshold = calibration["threshold"]
    assert threshold is not None and calibration["balanced_accuracy"] >= 0.9
    # on the held-out half, through the gate as the server applies it
    rag.min_relevance = threshold
    kept = rag.retrieve(in_scope[1::2])
    silenced = rag.retrieve(OFF_SCOPE[1::2])
    assert sum(r.used for r in kept) / len(kept) >= 0.9
    assert sum(not r.used for r in silenced) / len(silenced) >= 0.75
    assert all(r.points == [] for r in silenced if not r.used)


def test_calibration_and_settings() -> None:
    found = calibrate_relevance([0.5, 0.6, 0.7], [0.1, 0.2, 0.55])
    assert found["threshold"] == pytest.approx(0.35) and found["balanced_accuracy"] == pytest.approx(5 / 6, abs=1e-3)
    assert calibrate_relevance([0.5], [])["threshold"] is None  # nothing to separate: always retrieve
    manifest = {"relevance": {"threshold": 0.31}}
    assert relevance_threshold("auto", manifest) == 0.31 and relevance_threshold("auto", None) is None
    assert relevance_threshold(0.4, manifest) == 0.4 and relevance_threshold(None, manifest) is None
