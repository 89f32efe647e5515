"""GGUF → safetensors, once, into the cache.

transformers reads a GGUF file by dequantizing every tensor (about 15 s for the
135M bundled model on 2 CPU cores). Doing that on every load would dominate
short runs, so the first load writes a plain safetensors folder (weights,
tokenizer, chat template) to the cache and later loads read that in well under
a second. See README "Model load times" for the measured figures.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tunesmith.core.atomic import atomic_dir
from tunesmith.core.deps import require
from tunesmith.core.errors import ModelSourceError
from tunesmith.core.paths import cache_dir

MARKER = "tunesmith-source.json"


def _fingerprint(gguf: Path) -> str:
    stat = gguf.stat()
    key = f"{gguf.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def converted_path(gguf: Path, name: str | None = None) -> Path:
    """Where the safetensors copy of ``gguf`` lives (whether or not it exists yet)."""
    stem = name or gguf.stem
    return cache_dir() / "models" / f"{stem}-{_fingerprint(gguf)}"


@contextmanager
def _parsed_once(gguf_module: Any) -> Iterator[None]:
    """Parse the file once while transformers reads it three times.

    transformers builds a new ``GGUFReader`` for the config, the tokenizer and the
    weights, each parsing every metadata field again (the 49k-entry vocabulary and
    merges: ~2.6 s a parse for the bundled model on 2 CPU cores), and builds gguf's
    tensor-name table again for every module it walks (~400 times, 6 ms each).
    Both are pure reads of one unchanging file, so for the conversion the reader is
    kept per path and the table per architecture; outside it gguf is untouched.
    """
    reader_class, name_map = gguf_module.GGUFReader, gguf_module.get_tensor_name_map
    readers: dict[tuple[str, str], Any] = {}

    def reader(path: Any, mode: str = "r") -> Any:
        key = (str(Path(path).resolve()), mode)
        if key not in readers:
            readers[key] = reader_class(path, mode)
        return readers[key]

    gguf_module.GGUFReader, gguf_module.get_tensor_name_map = reader, functools.cache(name_map)
    try:
        yield
    finally:
        gguf_module.GGUFReader, gguf_module.get_tensor_name_map = reader_class, name_map


def ensure_converted(gguf: Path, name: str | None = None) -> Path:
    """Return a safetensors folder for ``gguf``, converting it on first use."""
    target = converted_path(gguf, name)
    if (target / MARKER).is_file():
        return target
    if not gguf.is_file():
        raise ModelSourceError("GGUF file not found", where=str(gguf), fix="Check the path in the project file.")
    with _converting(target):
        if (target / MARKER).is_file():  # another process converted it while this one waited
            return target
        _convert(gguf, target)
    return target


@contextmanager
def _converting(target: Path) -> Iterator[None]:
    """Hold the conversion of ``target`` for this process: two processes starting on an empty cache (a server
    and a run, two tuning workers) would both convert, and the second's folder would replace the first's
    under a process already loading it (and change the weights' fingerprint that answer caches are keyed by)."""
    import fcntl

    from tunesmith.core.progress import note

    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".{target.name}.lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            note(f"Waiting for another process converting the model to {target}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # the lock goes with the file's closing


def _convert(gguf: Path, target: Path) -> None:
    """Read ``gguf`` with transformers and write its weights, tokenizer and chat template to ``target``."""
    gguf_module = require("gguf", purpose="reading GGUF files")
    torch = require("torch")
    transformers = require("transformers")
    from tunesmith.core.progress import note
    from tunesmith.models.quiet import quiet_libraries

    quiet_libraries()

    note(f"Converting {gguf.name} to safetensors once (later loads read the cache at {target})")
    try:
        with _parsed_once(gguf_module):
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            model = transformers.AutoModelForCausalLM.from_pretrained(
                str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
            )
    except (ValueError, OSError, KeyError) as exc:
        raise ModelSourceError(
            f"transformers cannot read this GGUF file: {exc}",
            where=str(gguf),
            fix="Only architectures transformers supports in GGUF form load this way; "
            "use the model's Hugging Face folder instead.",
        ) from None
    # The weights are already dequantized to fp32 here; what stops save_pretrained
    # is only the GGUF quantizer still attached to the model. Detaching it saves
    # plain weights, which is what every later stage wants.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with atomic_dir(target) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / MARKER).write_text(
            json.dumps({"gguf": str(gguf.resolve()), "size": gguf.stat().st_size}, indent=2) + "\n"
        )
