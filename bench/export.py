"""Benchmark: the memory an export takes, verified and with --no-verify, against PEFT's own merge.

The obvious way to export a LoRA adapter is PEFT's: load the base whole in fp32, `merge_and_unload`, save, then
convert the folder (here with tunesmith's GGUF writer, as llama.cpp's converter is not installed). `tunesmith
export` merges one checkpoint shard at a time and writes the GGUF one tensor at a time; verified, it loads one
model at a time (the adapter's reference, the merged folder, the GGUF read back); with --no-verify it loads
none. Each way runs in its own process on an all-linear rank-16 adapter of the bundled model (its B matrices
random, so the merge changes every adapted weight), the merged files sized to the model as the default 1 GiB
is to an 8B one (--file-mib); the JSON gives wall seconds, the peak of anonymous memory (MiB, sampled every
10 ms) before and after, the memory each way added against PEFT's, and whether the two tunesmith exports wrote
the same GGUF bytes.

    python bench/export.py [--dtype f16] [--file-mib 16]
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
import json, sys, threading, time
from pathlib import Path
import peft, safetensors.torch, torch, transformers, gguf  # imported before the baseline reading
from tunesmith.core.rundir import RunDir
from tunesmith.models.spec import LocalModelRef
from tunesmith.train.export import export_run
from tunesmith.train import merge
from tunesmith.train.gguf_export import write_gguf
way, base, run_root, dtype, file_mib = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], sys.argv[5]
merge.MAX_FILE_BYTES = int(file_mib) * 2**20
run = RunDir(run_root)
# anonymous memory, sampled: the checkpoints read through mmap count in RSS as page cache the kernel can drop,
# and ru_maxrss keeps the parent's peak across fork and exec
def anon_mib():
    line = next(l for l in open("/proc/self/status") if l.startswith("RssAnon:"))
    return int(line.split()[1]) / 1024
peak = [anon_mib()]
def sample():
    while True:
        peak[0] = max(peak[0], anon_mib())
        time.sleep(0.01)
threading.Thread(target=sample, daemon=True).start()
before = anon_mib()
start = time.perf_counter()
if way == "peft":
    model = transformers.AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    merged = peft.PeftModel.from_pretrained(model, str(run.path("adapter"))).merge_and_unload()
    folder = run.path("peft-merged")
    merged.save_pretrained(str(folder))
    transformers.AutoTokenizer.from_pretrained(str(run.path("adapter"))).save_pretrained(str(folder))
    path = run.path(f"peft-{dtype}.gguf")
    write_gguf(folder, path, dtype=dtype)
else:
    report = export_run(run, LocalModelRef(id=str(base), device="cpu"), run_root, gguf=True, gguf_dtype=dtype,
                        verify=way == "verified")
    path = Path(report["gguf"]["path"])
print(json.dumps({"seconds": round(time.perf_counter() - start, 2),
                  "peak_anon_mib": round(max(peak[0], anon_mib()), 1),
                  "anon_before_mib": round(before, 1), "gguf": str(path)}))
"""


def run(way: str, base: Path, run_root: Path, dtype: str, file_mib: int) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, way, str(base), str(run_root), dtype, str(file_mib)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"{way} failed:\n{done.stderr[-3000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    result["sha256"] = hashlib.sha256(Path(str(result.pop("gguf"))).read_bytes()).hexdigest()[:16]
    return result


def _added(result: dict[str, object]) -> float:
    return float(result["peak_anon_mib"]) - float(result["anon_before_mib"])  # type: ignore[arg-type]


def _adapter(base: Path, folder: Path) -> None:
    import transformers

    sys.path.insert(0, str(REPO))  # the tests' trained-looking adapter: lora_B random, not PEFT's zeros
    from tests.families import lora_adapter

    lora_adapter(base, folder, r=16, lora_alpha=32)
    transformers.AutoTokenizer.from_pretrained(str(base)).save_pretrained(str(folder))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dtype", default="f16")
    # an 8B model is 32 GB in fp32, 32 of the default 1 GiB files; the bundled model is 0.5 GB, so 16 MiB files
    # give it about the same proportion (its embeddings, like an 8B's, are larger than one file alone)
    parser.add_argument("--file-mib", type=int, default=16)
    args = parser.parse_args()

    from tunesmith.models.resolve import DEFAULT_MODEL, local_path
    from tunesmith.models.spec import LocalModelRef

    base = Path(local_path(LocalModelRef(id=DEFAULT_MODEL), REPO))
    report: dict[str, object] = {"model": base.name, "dtype": args.dtype}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs" / "bench-train"
        root.mkdir(parents=True)
        _adapter(base, root / "adapter")
        # the first child pays the imports from disk: a warm-up so no way is charged for it
        subprocess.run([sys.executable, "-c", "import tunesmith.train.export, peft, torch, transformers"], check=True)
        for way in ("peft", "verified", "unverified"):
            report[way] = run(way, base, root, args.dtype, args.file_mib)
    peft_added = _added(report["peft"])  # type: ignore[arg-type]
    report["verified_added_rss_ratio"] = round(_added(report["verified"]) / peft_added, 3)  # type: ignore[arg-type]
    report["unverified_added_rss_ratio"] = round(_added(report["unverified"]) / peft_added, 3)  # type: ignore[arg-type]
    report["identical_gguf"] = report["verified"]["sha256"] == report["unverified"]["sha256"]  # type: ignore[index]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
