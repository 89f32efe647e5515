"""Finding and reading knowledge-base files."""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from pathlib import Path

from tunesmith.core.errors import DataError


@dataclass(frozen=True)
class Document:
    path: str  # relative to the project folder: stable across machines
    text: str
    sha256: str
    kind: str  # markdown | text | rst


_KINDS = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".rst": "rst"}


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
                fix="Fix knowledge.paths in the project file.",
            )
    return sorted(set(found))


def _matches(rel: str, patterns: list[str]) -> bool:
    # "**/*.md" should also match files at the top of the folder
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(rel, p.removeprefix("**/")) for p in patterns)


def read_document(path: Path, base_dir: Path) -> Document:
    """Read one file; raises DataError with the reason when it cannot be parsed."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"not valid UTF-8 (byte {exc.start})", where=str(path), fix="Save it as UTF-8.") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        rel = path.resolve().relative_to(base_dir.resolve()).as_posix()
    except ValueError:
        rel = str(path.resolve())
    kind = _KINDS.get(path.suffix.lower(), "text")
    return Document(path=rel, text=text, sha256=hashlib.sha256(raw).hexdigest(), kind=kind)
