"""GGUF → safetensors, once, into the cache.

transformers reads a GGUF file by dequantizing every tensor (about 15 s for the
135M bundled model on 2 CPU cores). Doing that on every load would dominate
short runs, so the first load writes a plain safetensors folder (weights,
tokenizer, chat template) to the cache and later loads read that in well under
a second. See README "Model load times" for the measured figures.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

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


def ensure_converted(gguf: Path, name: str | None = None) -> Path:
    """Return a safetensors folder for ``gguf``, converting it on first use."""
    target = converted_path(gguf, name)
    if (target / MARKER).is_file():
        return target
    if not gguf.is_file():
        raise ModelSourceError("GGUF file not found", where=str(gguf), fix="Check the path in the project file.")
    require("gguf", purpose="reading GGUF files")
    torch = require("torch")
    transformers = require("transformers")
    from tunesmith.core.progress import note
    from tunesmith.models.quiet import quiet_libraries

    quiet_libraries()

    note(f"Converting {gguf.name} to safetensors once (later loads read the cache at {target})")
    try:
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
    return target
