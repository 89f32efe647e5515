"""Cleaning loses nothing: in = out + removed, per reason, and every removal is written with its reason."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli
from tunesmith.data.clean import Cleaner, clean_files
from tunesmith.data.config import CleanConfig
from tunesmith.data.records import Example


def ex(user: str, assistant: str) -> Example:
    return Example(messages=[{"role": "user", "content": user}, {"role": "assistant", "content": assistant}])


BASE = "Our return window is sixty days from delivery for unused items in their original packaging and condition"


def test_each_rule_removes_with_its_reason() -> None:
    cleaner = Cleaner(CleanConfig(near_dup_threshold=0.7, min_words=4, max_words=60, languages=["en"], pii="drop"))
    inputs = [
        ("a:1", ex("What is the return window?", BASE)),
        ("a:2", ex("what is the RETURN window", BASE + "!")),  # exact duplicate after normalizing
        ("a:3", ex("What is the return window?", BASE + " indeed")),  # near duplicate
        ("a:4", ex("hi", "ok")),  # too short
        (
            "a:5",
            ex(
                "Quelle est la politique de retour pour les articles?",
                "Les articles non utilisés peuvent être retournés dans les soixante jours.",
            ),
        ),  # language
        ("a:6", ex("Email me at someone@example.com about my boots", "We will write to you today about boots.")),
        ("a:7", ex("Do you ship tents to Canada?", "Yes, we ship tents to Canada in about a week.")),
    ]
    decisions = [cleaner.decide(where, e) for where, e in inputs]
    reasons = [d.reason for d in decisions]
    assert reasons == [None, "exact_duplicate", "near_duplicate", "too_short", "language", "pii", None]
    assert "a:1" in decisions[1].detail and "a:1" in decisions[2].detail
    summary = cleaner.summary
    assert summary.examples_in == 7 and summary.examples_out == 2 and summary.adds_up


def test_redaction_changes_but_keeps() -> None:
    cleaner = Cleaner(CleanConfig(near_dup_threshold=None, pii="redact"))
    decision = cleaner.decide("x:1", ex("I'm at 555-123-4567", "We'll call 555-123-4567 soon."))
    assert decision.kept and decision.reason == "pii_redacted"
    assert decision.example.messages[1]["content"] == "We'll call [PHONE] soon."
    assert decision.original is not None and "555-123-4567" in decision.original.messages[0]["content"]
    assert cleaner.summary.changed["pii_redacted"] == 1 and cleaner.summary.adds_up


def test_clean_files_and_cli_write_rejects(tmp_path: Path) -> None:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"question number {i} about tents"},
                {"role": "assistant", "content": f"answer number {i} about tents and poles"},
            ]
        }
        for i in range(8)
    ]
    rows.append(rows[0])
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    summary = clean_files(
        [source], CleanConfig(near_dup_threshold=None), out=tmp_path / "out.jsonl", rejects=tmp_path / "rej.jsonl"
    )
    assert summary.to_dict()["removed"] == {"exact_duplicate": 1, "invalid_json": 1} and summary.adds_up
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 8
    reasons = [json.loads(line)["reason"] for line in (tmp_path / "rej.jsonl").read_text().splitlines()]
    assert sorted(reasons) == ["exact_duplicate", "invalid_json"]

    result = run_cli("data", "clean", str(source), "-o", str(tmp_path / "cli.jsonl"), "--json", "-p", str(tmp_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["in"] == 10 and report["out"] == 8 and report["adds_up"]
