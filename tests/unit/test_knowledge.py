"""Index, search and incremental re-ingest on a real on-disk store with the bundled embedder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tunesmith.knowledge.config import KnowledgeConfig
from tunesmith.knowledge.index import build_index
from tunesmith.knowledge.retrieve import Retriever
from tunesmith.knowledge.store import LanceStore, index_dir

DOCS = {
    "shipping.md": "# Shipping\n\nStandard shipping takes 3 to 6 business days and is free over $75.\n",
    "returns.md": "# Returns\n\nUnused items can be returned within 60 days for a full refund.\n",
    "stoves.md": "# Stoves\n\nThe Trailblaze stove fits EN 417 isobutane canisters.\n",
}


def ingest(tmp_path: Path) -> object:
    return build_index(
        LanceStore(index_dir(tmp_path, "default")),
        tmp_path,
        paths=["kb"],
        include=["**/*.md"],
        exclude=[],
        embedder="bundled:all-minilm-l6-v2",
        chunk_tokens=80,
        chunk_overlap=8,
    )


def test_search_finds_by_meaning_and_by_exact_term(tmp_path: Path) -> None:
    (tmp_path / "kb").mkdir()
    for name, text in DOCS.items():
        (tmp_path / "kb" / name).write_text(text)
    report = ingest(tmp_path)
    assert report.documents == 3 and sorted(report.added) == sorted(f"kb/{n}" for n in DOCS)
    retriever = Retriever.open(KnowledgeConfig(), tmp_path)
    assert retriever.search("how long until my package arrives", k=1)[0].chunk.doc == "kb/shipping.md"
    hit = retriever.search("EN 417", k=1)[0]
    assert hit.chunk.doc == "kb/stoves.md" and hit.bm25_rank == 1
    assert hit.citation()["heading"] == "Stoves"


def test_reingest_is_incremental(tmp_path: Path) -> None:
    (tmp_path / "kb").mkdir()
    for name, text in DOCS.items():
        (tmp_path / "kb" / name).write_text(text)
    ingest(tmp_path)
    (tmp_path / "kb" / "returns.md").write_text("# Returns\n\nReturns are accepted within 90 days.\n")
    (tmp_path / "kb" / "stoves.md").unlink()
    report = ingest(tmp_path)
    assert report.changed == ["kb/returns.md"] and report.removed == ["kb/stoves.md"]
    assert len(report.unchanged) == 1 and report.documents == 2
    retriever = Retriever.open(KnowledgeConfig(), tmp_path)
    assert {c.doc for c in retriever.store.all_chunks()} == {"kb/shipping.md", "kb/returns.md"}
    assert "90 days" in retriever.search("return window", k=1)[0].chunk.text


def test_unreadable_file_is_reported_and_the_rest_indexed(tmp_path: Path) -> None:
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "good.md").write_text("# Good\n\nA fine document about tents.\n")
    (tmp_path / "kb" / "bad.md").write_bytes(b"\xff\xfe\x00 not utf-8")
    report = ingest(tmp_path)
    assert report.documents == 1 and any("UTF-8" in reason for reason in report.failed.values())


def test_the_embedder_remembers_vectors_by_text_within_a_block_and_computes_only_new_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tunesmith.knowledge import embed

    shared = embed.load_embedder("bundled:all-minilm-l6-v2")
    embedder = embed.SentenceEmbedder(shared.model, "memo-test", batch_size=2)  # a fresh memo, the same model
    computed: list[str] = []
    real_encode = embedder.model.encode

    class Counting:  # the model as the embedder sees it, counting what it is asked to compute
        def encode(self, texts, **kwargs):  # type: ignore[no-untyped-def]
            computed.extend(texts)
            return real_encode(texts, **kwargs)

    embedder.model = Counting()
    monkeypatch.setattr(embed, "MEMO_TEXTS", 3)
    first = ["Tents ship free.", "Returns take 30 days.", "Stoves need fuel canisters."]
    again = ["Returns take 30 days.", "Boots are waterproof.", "Returns take 30 days.", "Tents ship free."]
    # outside a block (the server) nothing is remembered: a repeated text is computed again
    embedder.encode(first[:1])
    embedder.encode(first[:1])
    assert computed == first[:1] * 2 and not embedder._memo
    computed.clear()
    progress: list[int] = []
    with embed.remembering(embedder):
        before = embedder.encode(first)
        vectors = embedder.encode(again, on_progress=progress.append)
        # the repeated new text once, the known ones not at all
        assert sorted(computed) == sorted([*first, "Boots are waterproof."])
        assert sum(progress) == len(again)
        assert np.array_equal(vectors[0], before[1]) and np.array_equal(vectors[3], before[0])
        fresh = embed.SentenceEmbedder(shared.model, "fresh").encode(again)
        assert np.allclose(vectors, fresh, atol=1e-5)
        # past the bound the least recently used goes: "Stoves ..." was not asked for again
        assert len(embedder._memo) == 3 and "Stoves need fuel canisters." not in embedder._memo
        computed.clear()
        embedder.encode(["Stoves need fuel canisters."])
        assert computed == ["Stoves need fuel canisters."]
    assert not embedder._memo  # forgotten when the block ends
