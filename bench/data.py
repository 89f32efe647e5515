"""Benchmark: validate + dedup (exact and MinHash near-duplicate) + PII scan of 100,000 chat examples.

Prints one JSON object. The pipeline is tunesmith's streaming `clean_files` (every record parsed and
validated by its format reader, then exact dedup, near-dup LSH, and PII redaction); the comparison is the
same near-duplicate step with `datasketch` (the common pure-Python MinHash LSH) on a slice of the same
data, run in its own process so each peak RSS is its own.

    python bench/data.py [--examples 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = (
    "tent pole return refund order shipping boots jacket warranty repair zipper seam store pickup card "
    "gift points member size exchange delivery carrier tracking label package damaged replace stove fuel "
    "canister backpack torso hip belt sleeping bag rating comfort limit down wash dry water repellent "
    "membrane leak guarantee defect material workmanship photo receipt claim label customer team happy "
    "trails please thanks reach out help days business standard expedited overnight international"
).split()


def make_dataset(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    previous: list[dict] = []
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            roll = rng.random()
            if previous and roll < 0.05:  # exact duplicate
                record = rng.choice(previous)
            elif previous and roll < 0.10:  # near duplicate: one word changed
                base = rng.choice(previous)
                words = base["messages"][1]["content"].split()
                words[rng.randrange(len(words))] = rng.choice(WORDS)
                record = {"messages": [base["messages"][0], {"role": "assistant", "content": " ".join(words)}]}
            else:
                question = " ".join(rng.choice(WORDS) for _ in range(25)) + "?"
                answer = " ".join(rng.choice(WORDS) for _ in range(125)) + "."
                if roll > 0.97:
                    question += (
                        f" Reach me at user{i}@example.com or 555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}."
                    )
                record = {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}
            if len(previous) < 2000:
                previous.append(record)
            elif rng.random() < 0.01:
                previous[rng.randrange(len(previous))] = record
            handle.write(json.dumps(record) + "\n")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_pipeline(path: Path) -> dict:
    from tunesmith.data.clean import clean_files
    from tunesmith.data.config import CleanConfig

    started = time.perf_counter()
    out = Path(tempfile.mkdtemp())
    summary = clean_files(
        [path],
        CleanConfig(near_dup_threshold=0.85, pii="redact"),
        out=out / "clean.jsonl",
        rejects=out / "rejects.jsonl",
    )
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "peak_rss_mib": round(peak_rss_mib(), 1), **summary.to_dict()}


def run_datasketch(path: Path, limit: int) -> dict:
    from datasketch import MinHash, MinHashLSH

    from tunesmith.data.near_dup import shingles

    started = time.perf_counter()
    lsh = MinHashLSH(threshold=0.85, num_perm=128)
    found = 0
    with path.open(encoding="utf-8") as handle:
        for i, line in enumerate(handle):
            if i >= limit:
                break
            record = json.loads(line)
            text = "\n".join(m["content"] for m in record["messages"])
            sig = MinHash(num_perm=128)
            sig.update_batch([s.encode() for s in shingles(text)])
            if lsh.query(sig):
                found += 1
            else:
                lsh.insert(str(i), sig)
    return {
        "examples": limit,
        "seconds": round(time.perf_counter() - started, 2),
        "near_or_exact_dups": found,
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }


def run_ours_slice(path: Path, limit: int) -> dict:
    from tunesmith.data.near_dup import NearDuplicateIndex

    started = time.perf_counter()
    index = NearDuplicateIndex(0.85)
    found = 0
    with path.open(encoding="utf-8") as handle:
        for i, line in enumerate(handle):
            if i >= limit:
                break
            record = json.loads(line)
            text = "\n".join(m["content"] for m in record["messages"])
            if index.check_and_add(str(i), text) is not None:
                found += 1
    return {"examples": limit, "seconds": round(time.perf_counter() - started, 2), "near_or_exact_dups": found}


def child(mode: str, path: Path, limit: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--mode", mode, "--file", str(path), "--limit", str(limit)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--compare-slice", type=int, default=10_000)
    parser.add_argument("--mode", default="main")
    parser.add_argument("--file")
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    if args.mode == "pipeline":
        print(json.dumps(run_pipeline(Path(args.file))))
        return
    if args.mode == "datasketch":
        print(json.dumps(run_datasketch(Path(args.file), args.limit)))
        return
    if args.mode == "ours-slice":
        print(json.dumps(run_ours_slice(Path(args.file), args.limit)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chat.jsonl"
        make_dataset(path, args.examples)
        size_mib = path.stat().st_size / 2**20
        ours = child("pipeline", path, 0)
        slice_ours = child("ours-slice", path, args.compare_slice)
        slice_ds = child("datasketch", path, args.compare_slice)
    result = {
        "examples": args.examples,
        "file_mib": round(size_mib, 1),
        "seconds": ours["seconds"],
        "examples_per_s": round(args.examples / ours["seconds"]),
        "peak_rss_mib": ours["peak_rss_mib"],
        "removed": ours["removed"],
        "changed": ours["changed"],
        "adds_up": ours["adds_up"],
        "near_dup_slice": {
            "examples": args.compare_slice,
            "tunesmith_rensa_s": slice_ours["seconds"],
            "datasketch_s": slice_ds["seconds"],
            "speedup": round(slice_ds["seconds"] / max(slice_ours["seconds"], 1e-9), 1),
            "same_duplicates_found": slice_ours["near_or_exact_dups"] == slice_ds["near_or_exact_dups"],
            "found": [slice_ours["near_or_exact_dups"], slice_ds["near_or_exact_dups"]],
        },
        "targets": {"seconds": 60, "peak_rss_mib": 2048},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
