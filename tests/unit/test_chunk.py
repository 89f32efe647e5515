from __future__ import annotations

from tunesmith.knowledge.chunk import chunk_document, count_tokens
from tunesmith.knowledge.documents import Document

MD = """# Returns

Intro paragraph about returns.

## Window

Unused items can be returned within 60 days. Used items only when defective.

```
code block stays whole
```

## Refunds

Refunds take 5 to 7 business days. Gift card purchases are refunded as gift cards.
"""


def doc(text: str, kind: str = "markdown") -> Document:
    return Document(path="kb/returns.md", file="kb/returns.md", text=text, sha256="x", kind=kind)


def test_chunks_follow_headings_and_keep_offsets() -> None:
    chunks = chunk_document(doc(MD), budget=40, overlap=0)
    headings = [c.heading for c in chunks]
    assert headings == ["Returns", "Returns > Window", "Returns > Refunds"]
    for c in chunks:
        assert MD[c.start : c.end] == c.text
    assert "code block stays whole" in chunks[1].text


def test_budget_splits_long_sections_with_overlap() -> None:
    sentences = " ".join(f"Sentence number {i} talks about tents and poles." for i in range(40))
    text = f"# Care\n\n{sentences}\n"
    chunks = chunk_document(doc(text), budget=30, overlap=10)
    assert len(chunks) > 5
    assert all(count_tokens(c.text) <= 30 for c in chunks)
    # consecutive chunks overlap (the next starts before the previous ends)
    assert any(b.start < a.end for a, b in zip(chunks, chunks[1:], strict=False))
    # and together they cover the whole section
    assert chunks[0].start <= text.index("Sentence") and chunks[-1].end >= len(text.rstrip())


def test_rst_headings() -> None:
    text = "Shipping\n========\n\nStandard takes 3 days.\n\nExpress\n-------\n\nTwo days.\n"
    chunks = chunk_document(doc(text, kind="rst"), budget=50, overlap=0)
    assert [c.heading for c in chunks] == ["Shipping", "Shipping > Express"]


def test_chunk_ids_are_stable() -> None:
    assert [c.id for c in chunk_document(doc(MD))] == [c.id for c in chunk_document(doc(MD))]
