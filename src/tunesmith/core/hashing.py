"""Content digests of the files a run consumed, for lineage."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digests(base: Path, paths: list[str]) -> dict[str, dict[str, object]]:
    """``{relative path: {sha256, bytes}}`` for every file named, inside a named folder, or matching a glob."""
    out: dict[str, dict[str, object]] = {}
    for entry in paths:
        candidate = base / entry
        if candidate.is_file():
            files = [candidate]
        elif candidate.is_dir():
            files = sorted(p for p in candidate.rglob("*") if p.is_file())
        else:
            files = sorted(p for p in base.glob(entry) if p.is_file())
        for file in files:
            try:
                rel = str(file.relative_to(base))
            except ValueError:
                rel = str(file)
            out[rel] = {"sha256": sha256_file(file), "bytes": file.stat().st_size}
    return out
