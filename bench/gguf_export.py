"""Benchmark: writing a GGUF file one tensor at a time against holding every tensor until the end.

`train/gguf_export.py write_gguf` declares every tensor's shape and type first (no data needed), then reads,
encodes, writes and drops one tensor at a time; the earlier way (`stream=False`, gguf's `add_tensor`) read the
whole checkpoint, converted it to fp32 and kept every encoded tensor until the file was written, so an 8B model
needed tens of GB to export. Each way runs in its own process on the bundled model's folder (fp32 safetensors),
per file type; the JSON gives wall seconds, peak RSS (MiB) before and after writing, the ratio of the memory
the writing added, and whether both files are byte for byte the same.

    python bench/gguf_export.py [--dtypes f16 q8_0]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import json, resource, sys, time
from pathlib import Path
from tunesmith.train.gguf_export import write_gguf
import gguf, safetensors.torch, torch, transformers  # imported before the baseline reading
folder, out, dtype, stream = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
info = write_gguf(folder, out, dtype=dtype, stream=stream)
print(json.dumps({"seconds": round(time.perf_counter() - start, 2), "tensors": info["tensors"],
                  "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "rss_before_mib": round(before, 1)}))
"""


def run(folder: Path, out: Path, dtype: str, stream: bool) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), str(out), dtype, "1" if stream else "0"],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    result["sha256"] = hashlib.sha256(out.read_bytes()).hexdigest()[:16]
    result["size_mib"] = round(out.stat().st_size / 2**20, 1)
    return result


def _added(result: dict[str, object]) -> float:
    return float(result["peak_rss_mib"]) - float(result["rss_before_mib"])  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dtypes", nargs="*", default=["f16", "q8_0"])
    args = parser.parse_args()

    from tunesmith.models.resolve import DEFAULT_MODEL, local_path
    from tunesmith.models.spec import LocalModelRef

    folder = Path(local_path(LocalModelRef(id=DEFAULT_MODEL), REPO))
    # the child processes import the same modules: one warm-up so neither way pays the first imports from disk
    subprocess.run([sys.executable, "-c", "import tunesmith.train.gguf_export, torch, transformers"], check=True)
    report: dict[str, object] = {"model": folder.name}
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in args.dtypes:
            held = run(folder, Path(tmp) / f"held-{dtype}.gguf", dtype, stream=False)
            streamed = run(folder, Path(tmp) / f"streamed-{dtype}.gguf", dtype, stream=True)
            report[dtype] = {
                "held": held,
                "streamed": streamed,
                "identical_files": held["sha256"] == streamed["sha256"],
                # memory the writing itself took, above the imports
                "added_rss_ratio": round(_added(streamed) / _added(held), 3),
            }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
