"""Chunking that follows the document's structure.

A chunk never crosses a heading, keeps code blocks whole when they fit, splits
long lists between items (and long paragraphs between sentences), and is
a contiguous span of the source text, so its character offsets let an answer
cite exactly where it came from. Consecutive chunks of one section overlap by
up to ``overlap`` tokens so a fact split across a boundary is still found whole.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from tunesmith.knowledge.documents import Document

_TOKEN = re.compile(r"\w+|[^\w\s]")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z0-9\"'(\[*])")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+:.])\1{2,}\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_LIST_ITEM = re.compile(r"^\s{0,3}(?:[-*+]|\d{1,3}[.)])\s+", re.MULTILINE)


def count_tokens(text: str) -> int:
    """Words and punctuation: close to a WordPiece count, and free to compute."""
    return len(_TOKEN.findall(text))


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


@dataclass(frozen=True)
class Chunk:
    id: str
    doc: str
    heading: str  # "Returns > Refund timing"
    start: int
    end: int
    text: str

    @property
    def embed_text(self) -> str:
        """What gets embedded: the heading path gives a short chunk its topic."""
        return f"{self.heading}\n{self.text}" if self.heading else self.text


@dataclass
class _Block:
    start: int
    end: int
    heading: tuple[str, ...]
    atomic: bool = False  # code fences: never split inside when avoidable


def _blocks(doc: Document) -> list[_Block]:
    """Paragraph-level blocks with the heading path they sit under."""
    text = doc.text
    lines = text.split("\n")
    offsets = []
    pos = 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1
    blocks: list[_Block] = []
    heading: list[tuple[int, str]] = []
    i = 0
    para_start: int | None = None

    def close_para(end_line: int) -> None:
        nonlocal para_start
        if para_start is not None:
            end = offsets[end_line - 1] + len(lines[end_line - 1])
            blocks.append(_Block(offsets[para_start], end, tuple(h for _, h in heading)))
            para_start = None

    while i < len(lines):
        line = lines[i]
        md = _MD_HEADING.match(line) if doc.kind in ("markdown", "text") else None
        rst = (
            doc.kind == "rst"
            and i + 1 < len(lines)
            and line.strip()
            and _RST_UNDERLINE.match(lines[i + 1])
            and len(lines[i + 1].strip()) >= len(line.strip())
        )
        if md or rst:
            close_para(i)
            if md:
                level, title = len(md.group(1)), md.group(2)
                i += 1
            else:
                level = "=-~^\"'`#*+:.".index(lines[i + 1].strip()[0]) + 1
                title = line.strip()
                i += 2
            heading = [(lvl, h) for lvl, h in heading if lvl < level] + [(level, title)]
            continue
        if doc.kind == "markdown" and _FENCE.match(line):
            close_para(i)
            fence = _FENCE.match(line).group(1)  # type: ignore[union-attr]
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(fence):
                j += 1
            j = min(j, len(lines) - 1)
            end = offsets[j] + len(lines[j])
            blocks.append(_Block(offsets[i], end, tuple(h for _, h in heading), atomic=True))
            i = j + 1
            continue
        if not line.strip():
            close_para(i)
        elif para_start is None:
            para_start = i
        i += 1
    close_para(len(lines))
    return blocks


def _units(text: str, block: _Block, budget: int) -> list[tuple[int, int]]:
    """A block as spans that each fit the budget: whole, else list items, else sentences, else token windows."""
    body = text[block.start : block.end]
    if count_tokens(body) <= budget or block.atomic and count_tokens(body) <= 2 * budget:
        return [(block.start, block.end)]
    items = [m.start() for m in _LIST_ITEM.finditer(body)]
    if len(items) > 1:
        # a list splits between its items, never inside one that fits
        bounds = ([0] if items[0] > 0 else []) + items + [len(body)]
        spans_of_items: list[tuple[int, int]] = []
        for a, b in zip(bounds, bounds[1:], strict=False):
            piece = body[a:b].rstrip()
            if not piece.strip():
                continue
            sub = _Block(block.start + a, block.start + a + len(piece), block.heading)
            spans_of_items.extend(_units(text, sub, budget))
        return spans_of_items
    spans: list[tuple[int, int]] = []
    cursor = 0
    for sentence in split_sentences(body):
        at = body.find(sentence, cursor)
        cursor = at + len(sentence)
        if count_tokens(sentence) <= budget:
            spans.append((block.start + at, block.start + cursor))
            continue
        matches = list(_TOKEN.finditer(sentence))
        for k in range(0, len(matches), budget):
            window = matches[k : k + budget]
            spans.append((block.start + at + window[0].start(), block.start + at + window[-1].end()))
    return spans


def chunk_document(doc: Document, *, budget: int = 160, overlap: int = 24) -> list[Chunk]:
    text = doc.text
    chunks: list[Chunk] = []
    sections: dict[tuple[str, ...], list[tuple[int, int]]] = {}
    order: list[tuple[str, ...]] = []
    for block in _blocks(doc):
        if block.heading not in sections:
            sections[block.heading] = []
            order.append(block.heading)
        sections[block.heading].extend(_units(text, block, budget))
    for heading in order:
        units = sections[heading]
        i = 0
        while i < len(units):
            j, tokens = i, 0
            while j < len(units):
                size = count_tokens(text[units[j][0] : units[j][1]])
                if j > i and tokens + size > budget:
                    break
                tokens += size
                j += 1
            start, end = units[i][0], units[j - 1][1]
            chunks.append(_make_chunk(doc, heading, start, end))
            if j >= len(units):
                break
            # step back over trailing units that fit the overlap budget, but always advance
            back, carried = j, 0
            while back - 1 > i:
                size = count_tokens(text[units[back - 1][0] : units[back - 1][1]])
                if carried + size > overlap:
                    break
                carried += size
                back -= 1
            i = back
    return chunks


def _make_chunk(doc: Document, heading: tuple[str, ...], start: int, end: int) -> Chunk:
    body = doc.text[start:end]
    digest = hashlib.sha1(f"{doc.path}|{start}|{end}|{body}".encode()).hexdigest()[:16]
    return Chunk(id=digest, doc=doc.path, heading=" > ".join(heading), start=start, end=end, text=body)
