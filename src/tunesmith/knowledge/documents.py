"""Finding and reading knowledge-base files: text formats, HTML, PDF, DOCX, and tables of records.

Every format is turned into Markdown-ish text the chunker understands
(headings as ``#`` lines, list items as ``- ``), so structure survives: an
HTML page keeps its ``<h2>`` sections, a DOCX its Heading styles, a PDF its
pages. Character offsets of a chunk refer to that extracted text (for text
formats it is the file itself).

A table (CSV, TSV, JSON, JSONL) is a set of records: each record with a value
in the configured text field becomes its own document, cited as
``file#id``, so an answer can point at the FAQ entry it used.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

from tunesmith.core.deps import require
from tunesmith.core.errors import DataError
from tunesmith.knowledge.config import RecordsConfig


@dataclass(frozen=True)
class Document:
    path: str  # what citations show: relative to the project folder, `file#id` for a record
    file: str  # the file it came from; re-ingest works file by file
    text: str
    sha256: str  # of the file's bytes
    kind: str  # how the chunker reads it: markdown | text | rst


_TEXT_KINDS = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".rst": "rst"}
_RECORD_SUFFIXES = {".csv", ".tsv", ".json", ".jsonl"}


def find_files(base_dir: Path, paths: list[str], include: list[str], exclude: list[str]) -> list[Path]:
    """Every file named or found under ``paths`` that matches include and not exclude."""
    found: list[Path] = []
    for entry in paths:
        root = (base_dir / entry) if not Path(entry).is_absolute() else Path(entry)
        if root.is_file():
            found.append(root)
        elif root.is_dir():
            for candidate in sorted(root.rglob("*")):
                if not candidate.is_file():
                    continue
                rel = candidate.relative_to(root).as_posix()
                if _matches(rel, include) and not _matches(rel, exclude):
                    found.append(candidate)
        else:
            raise DataError(
                "knowledge-base path not found",
                where=str(root),
                fix="Fix knowledge.paths in the project file (or the paths given to `kb ingest`).",
            )
    return sorted(set(found))


def _matches(rel: str, patterns: list[str]) -> bool:
    # "**/*.md" should also match files at the top of the folder
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(rel, p.removeprefix("**/")) for p in patterns)


def relative_name(path: Path, base_dir: Path) -> str:
    try:
        return path.resolve().relative_to(base_dir.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def read_documents(path: Path, base_dir: Path, records: RecordsConfig | None = None) -> list[Document]:
    """The documents in one file; raises DataError with the reason when it cannot be parsed."""
    raw = path.read_bytes()
    rel = relative_name(path, base_dir)
    digest = hashlib.sha256(raw).hexdigest()
    suffix = path.suffix.lower()
    try:
        if suffix in (".html", ".htm"):
            return [Document(rel, rel, _html_text(_decode(raw, path)), digest, "markdown")]
        if suffix == ".pdf":
            return [Document(rel, rel, _pdf_text(raw), digest, "markdown")]
        if suffix == ".docx":
            return [Document(rel, rel, _docx_text(raw), digest, "markdown")]
        if suffix in _RECORD_SUFFIXES:
            return _records(raw, path, rel, digest, records)
    except DataError as exc:
        raise DataError(exc.what, where=exc.where or str(path), fix=exc.fix) from None
    except Exception as exc:  # a parser's own error: report it for this file and go on with the rest
        raise DataError(f"cannot parse {suffix[1:].upper()} ({type(exc).__name__}: {exc})", where=str(path)) from None
    return [Document(rel, rel, _decode(raw, path), digest, _TEXT_KINDS.get(suffix, "text"))]


def _decode(raw: bytes, path: Path) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"not valid UTF-8 (byte {exc.start})", where=str(path), fix="Save it as UTF-8.") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _html_text(html: str) -> str:
    """The page's main content as Markdown; navigation, footers and cookie banners are left out."""
    trafilatura = require("trafilatura", purpose="reading HTML into the knowledge base")
    text = trafilatura.extract(
        html, output_format="markdown", include_tables=True, include_links=False, include_images=False
    )
    if not text or not text.strip():
        raise DataError("no main content found in the HTML page")
    metadata = trafilatura.extract_metadata(html)
    title = getattr(metadata, "title", None) if metadata is not None else None
    if title and not text.lstrip().startswith("#"):
        text = f"# {title.strip()}\n\n{text}"
    return text.strip() + "\n"


def _pdf_text(raw: bytes) -> str:
    """One section per page, so a citation says which page."""
    pypdf = require("pypdf", purpose="reading PDF into the knowledge base")
    reader = pypdf.PdfReader(io.BytesIO(raw))
    if reader.is_encrypted:
        raise DataError("the PDF is encrypted", fix="Remove the password and ingest it again.")
    title = (reader.metadata.title if reader.metadata else None) or ""
    parts = [f"# {title.strip()}\n"] if title.strip() else []
    for number, page in enumerate(reader.pages, 1):
        body = (page.extract_text() or "").strip()
        if body:
            parts.append(f"## Page {number}\n\n{body}\n")
    if not parts or all(p.startswith("# ") for p in parts):
        raise DataError("no text in the PDF (scanned images need OCR first)")
    return "\n".join(parts)


def _docx_text(raw: bytes) -> str:
    """Heading styles become headings, list styles list items, tables rows of cells."""
    docx = require("docx", purpose="reading DOCX into the knowledge base")
    document = docx.Document(io.BytesIO(raw))
    lines: list[str] = []
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            continue
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        if style == "Title":
            lines.append(f"# {text}")
        elif style.startswith("Heading") and style.split()[-1].isdigit():
            lines.append("#" * min(6, int(style.split()[-1]) + 1) + f" {text}")
        elif style.startswith("List"):
            lines.append(f"- {text}")
            continue  # consecutive items stay one block
        else:
            lines.append(text)
        lines.append("")
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text.strip() for cell in row.cells))
        lines.append("")
    text = "\n".join(lines).strip()
    if not text:
        raise DataError("the DOCX has no text")
    return text + "\n"


def _records(raw: bytes, path: Path, rel: str, digest: str, records: RecordsConfig | None) -> list[Document]:
    if records is None:
        raise DataError(
            "a table of records needs to know which field holds the text",
            fix="Set knowledge.records.text_field (or pass --text-field to `kb ingest`).",
        )
    text = _decode(raw, path)
    rows: list[tuple[int, dict[str, object]]] = []
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        reader = csv.DictReader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ",")
        rows = [(reader.line_num, dict(row)) for row in reader]
    elif suffix == ".jsonl":
        for number, line in enumerate(text.split("\n"), 1):
            if line.strip():
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"line {number}: not valid JSON ({exc.msg})") from None
                if not isinstance(value, dict):
                    raise DataError(f"line {number}: a record must be a JSON object")
                rows.append((number, value))
    else:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
        if isinstance(value, dict):
            value = next((v for v in value.values() if isinstance(v, list)), [value])
        rows = [(i, r) for i, r in enumerate(value, 1) if isinstance(r, dict)]
    if rows and not any(records.text_field in r for _, r in rows):
        raise DataError(
            f"no record has the text field '{records.text_field}' (fields: {sorted(rows[0][1])})",
            fix="Set knowledge.records.text_field to one of those fields.",
        )
    docs = []
    for number, row in rows:
        body = str(row.get(records.text_field) or "").strip()
        if not body:
            continue
        ident = str(row.get(records.id_field) or "").strip() if records.id_field else ""
        title = str(row.get(records.title_field) or "").strip() if records.title_field else ""
        anchor = ident or (f"row{number}" if suffix in (".csv", ".tsv") else f"L{number}")
        body = body.replace("\r\n", "\n")
        text_of = f"# {title}\n\n{body}\n" if title else body + "\n"
        docs.append(Document(f"{rel}#{anchor}", rel, text_of, digest, "markdown"))
    return docs
