"""`tunesmith kb ingest|search|eval` as a user runs them, in a folder without a project file."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli


def test_ingest_search_and_eval_from_the_command_line(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "policies").mkdir(parents=True)
    (docs / "policies" / "returns.md").write_text("# Returns\n\n## Window\n\nReturns are free within 60 days.\n")
    (docs / "policies" / "shipping.rst").write_text("Shipping\n========\n\nOrders ship in 2 business days.\n")
    (docs / "faq.csv").write_text('id,q,a\nrental,Can I rent a tent?,"Yes, tents rent for $25 per day."\n')
    (docs / "scan.pdf").write_bytes(b"%PDF-1.4 broken")
    (docs / "notes.tmp").write_text("scratch, not indexed")

    result = run_cli(
        "kb",
        "ingest",
        "docs",
        "--kb",
        "support",
        "--text-field",
        "a",
        "--title-field",
        "q",
        "--id-field",
        "id",
        "--include",
        "**/*",
        "--exclude",
        "*.tmp",
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["files"] == 3 and report["documents"] == 3
    assert list(report["failed"]) == ["docs/scan.pdf"] and "cannot parse PDF" in report["failed"]["docs/scan.pdf"]
    assert (tmp_path / ".tunesmith" / "kb" / "support" / "manifest.json").exists()

    result = run_cli("kb", "search", "how much to rent a tent", "--kb", "support", "-k", "2", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert hits[0]["source"] == "docs/faq.csv#rental" and hits[0]["heading"] == "Can I rent a tent?"
    assert {"chunk_id", "start", "end", "score", "text"} <= set(hits[0])

    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        json.dumps({"query": "how long do I have to send it back", "source": "docs/policies/returns.md"})
        + "\n"
        + json.dumps({"query": "when does my order leave the warehouse", "sources": ["docs/policies/shipping.rst"]})
        + "\n"
    )
    result = run_cli("kb", "eval", str(queries), "--kb", "support", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    assert scores["queries"] == 2 and set(scores["modes"]) == {"hybrid", "dense", "keyword"}
    assert scores["modes"]["dense"]["recall@3"]["mean"] == 1.0

    queries.write_text('{"query": "fine", "source": "docs/a.md"}\n{"query": "no source"}\n')
    result = run_cli("kb", "eval", str(queries), "--kb", "support", cwd=tmp_path)
    assert result.returncode == 2 and f"{queries}:2" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
