"""The same retrieval behaviour on both stores: embedded LanceDB and a real PostgreSQL + pgvector server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesmith.knowledge.config import KnowledgeConfig, StoreConfig
from tunesmith.knowledge.ingest import ingest
from tunesmith.knowledge.retrieve import Retriever
from tunesmith.knowledge.store import Filters

DOCS = {
    "policies/shipping.md": "# Shipping\n\n## Timing\n\nStandard shipping takes 3 to 6 business days and is free "
    "over $75.\n\n## Carriers\n\nWe ship with UPS and USPS.\n",
    "policies/returns.md": "# Returns\n\nUnused items can be returned within 60 days for a full refund.\n",
    "products/stoves.md": "# Stoves\n\nThe Trailblaze stove fits EN 417 isobutane canisters.\n",
    "products/tents.md": "# Tents\n\nThe Ridgeline 2 tent packs to 1.9 kg and pitches in four minutes.\n",
}


@pytest.fixture(params=["lancedb", "pgvector"])
def knowledge(request: pytest.FixtureRequest, tmp_path: Path) -> KnowledgeConfig:
    (tmp_path / "kb").mkdir()
    for name, text in DOCS.items():
        (tmp_path / "kb" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "kb" / name).write_text(text)
    if request.param == "lancedb":
        return KnowledgeConfig(chunk_tokens=60, chunk_overlap=0)
    url = request.getfixturevalue("postgres_url")
    # each test its own tables: the server is shared by the session
    prefix = "t_" + request.node.name.split("[")[0][-30:].lower()
    return KnowledgeConfig(
        chunk_tokens=60, chunk_overlap=0, store=StoreConfig(kind="pgvector", url=url, table_prefix=prefix)
    )


def test_hybrid_search_filters_and_incremental_reingest(knowledge: KnowledgeConfig, tmp_path: Path) -> None:
    report = ingest(knowledge, tmp_path)
    assert report.files == 4 and report.chunks == 5 and not report.failed
    retriever = Retriever.open(knowledge, tmp_path)
    assert retriever.search("how long until my package arrives", k=1)[0].chunk.doc == "kb/policies/shipping.md"
    exact = retriever.search("EN 417", k=1)[0]
    assert exact.chunk.doc == "kb/products/stoves.md" and exact.bm25_rank == 1
    assert retriever.search("EN 417", k=3, mode="keyword")[0].chunk.doc == "kb/products/stoves.md"
    # filters apply to both retrievers: a stove query restricted to policies finds no stove
    only_policies = retriever.search("stove canister", k=5, filters=Filters(source="kb/policies/*"))
    assert only_policies and all(h.chunk.doc.startswith("kb/policies/") for h in only_policies)
    carriers = retriever.search("shipping", k=5, filters=Filters(heading="carriers"))
    assert [h.chunk.heading for h in carriers] == ["Shipping > Carriers"]

    # unchanged files cost nothing; a change replaces, a removal deletes
    again = ingest(knowledge, tmp_path)
    assert again.new_chunks == 0 and len(again.unchanged) == 4
    (tmp_path / "kb/policies/returns.md").write_text("# Returns\n\nReturns are accepted within 90 days.\n")
    (tmp_path / "kb/products/tents.md").unlink()
    changed = ingest(knowledge, tmp_path)
    assert changed.changed == ["kb/policies/returns.md"] and changed.removed == ["kb/products/tents.md"]
    assert changed.new_chunks == 1 and changed.files == 3
    retriever = Retriever.open(knowledge, tmp_path)
    docs = {c.doc for c in retriever.store.all_chunks()}
    assert docs == {"kb/policies/shipping.md", "kb/policies/returns.md", "kb/products/stoves.md"}
    assert "90 days" in retriever.search("return window", k=1)[0].chunk.text
    assert not retriever.search("Ridgeline tent weight", k=5, mode="keyword")


def test_settings_change_rebuilds_the_index(knowledge: KnowledgeConfig, tmp_path: Path) -> None:
    ingest(knowledge, tmp_path)
    finer = knowledge.model_copy(update={"chunk_tokens": 20})
    report = ingest(finer, tmp_path)
    assert report.rebuilt and report.new_chunks == report.chunks == 5


def test_an_ingest_waits_for_one_under_way_elsewhere_and_finds_its_work_done(
    knowledge: KnowledgeConfig, tmp_path: Path
) -> None:
    """Two processes reading one manifest would both replace a changed file's chunks (each then twice)."""
    import threading

    from tunesmith.knowledge.store import open_store

    ingest(knowledge, tmp_path)
    (tmp_path / "kb/policies/returns.md").write_text("# Returns\n\nReturns are accepted within 90 days.\n")
    other = open_store(knowledge, tmp_path)  # another process's store: its own lock file handle, its own session
    reports = []
    with other.writing():
        waiting = threading.Thread(target=lambda: reports.append(ingest(knowledge, tmp_path)))
        waiting.start()
        waiting.join(timeout=1.0)
        assert waiting.is_alive() and not reports, "an ingest went ahead while another held the index"
        elsewhere = ingest(knowledge, tmp_path, store=other)
        assert elsewhere.changed == ["kb/policies/returns.md"]
    waiting.join(timeout=60)
    [report] = reports
    assert report.new_chunks == 0 and len(report.unchanged) == 4
    assert other.count() == report.chunks == 5  # every chunk once


def test_pgvector_connection_error_is_one_clear_line(tmp_path: Path) -> None:
    from tunesmith.core.errors import ConfigError

    cfg = KnowledgeConfig(store=StoreConfig(kind="pgvector", url="postgresql://nobody:secret@127.0.0.1:1/none"))
    with pytest.raises(ConfigError) as err:
        ingest(cfg, tmp_path)
    assert "cannot connect to PostgreSQL" in err.value.what and "secret" not in err.value.render()


def test_cross_encoder_reorders_the_fused_candidates(tmp_path: Path) -> None:
    """A real sentence-transformers CrossEncoder (built on the bundled MiniLM; its scoring head is untrained,
    which is fine here: the point is that the final order is the reranker's, over the fused pool)."""
    from sentence_transformers import CrossEncoder

    from tunesmith.knowledge.embed import _bundled_dir

    (tmp_path / "kb").mkdir()
    for name, text in DOCS.items():
        (tmp_path / "kb" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "kb" / name).write_text(text)
    cfg = KnowledgeConfig(chunk_tokens=60, chunk_overlap=0)
    ingest(cfg, tmp_path)
    plain = Retriever.open(cfg, tmp_path)
    reranker = CrossEncoder(str(_bundled_dir("all-minilm-l6-v2")), num_labels=1)
    reranked = Retriever(plain.store, plain.embedder, reranker=reranker)
    query = "shipping time"
    hits = reranked.search(query, k=3)
    pool = plain.search(query, k=20)
    scores = reranker.predict([(query, h.chunk.embed_text) for h in pool])
    expected = [pool[i].chunk.id for i in sorted(range(len(pool)), key=lambda i: -scores[i])[:3]]
    assert [h.chunk.id for h in hits] == expected
    assert all(h.rerank_score is not None for h in hits)


def test_a_keyword_search_does_not_load_the_embedder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the embedder (sentence-transformers) was most of a `kb search --mode keyword`'s time; it loads
    when a search first needs vectors, once."""
    import tunesmith.knowledge.retrieve as retrieve

    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "stoves.md").write_text(DOCS["products/stoves.md"])
    knowledge = KnowledgeConfig(chunk_tokens=60, chunk_overlap=0)
    ingest(knowledge, tmp_path)
    loads: list[str] = []
    load = retrieve.load_embedder
    monkeypatch.setattr(retrieve, "load_embedder", lambda spec: loads.append(spec) or load(spec))
    retriever = Retriever.open(knowledge, tmp_path)
    assert retriever.search("EN 417", k=1, mode="keyword")[0].chunk.doc == "kb/stoves.md"
    assert loads == []
    assert retriever.search("camping stove fuel", k=1)[0].chunk.doc == "kb/stoves.md"
    assert retriever.search("camping stove fuel", k=1, mode="dense")[0].chunk.doc == "kb/stoves.md"
    assert loads == [knowledge.embedder_spec]
