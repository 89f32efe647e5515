"""`tunesmith export` on a tiny Llama 3 model: verified, and with --no-verify loading no model at all while
writing the same files (merged safetensors, GGUF, Modelfile), for a LoRA adapter and for a full fine-tune."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from tests.families import FAMILIES, lora_adapter
from tunesmith.core.rundir import RunDir
from tunesmith.models.spec import LocalModelRef
from tunesmith.train.export import export_run

LLAMA3 = next(f for f in FAMILIES if f.name == "llama3")


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != "export.json"
    } | {
        f"merged/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((folder / "merged").glob("*"))
        if p.is_file()
    }


def _no_model_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every way export could load a whole model fail the test."""
    import peft
    import transformers

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)
    monkeypatch.setattr(peft.PeftModel, "from_pretrained", refuse)
    monkeypatch.setattr("tunesmith.train.export.load_causal_lm", refuse)


def test_an_unverified_export_loads_no_model_and_writes_the_same_files(
    family_dir,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import transformers

    base = family_dir(LLAMA3)
    run = RunDir(tmp_path / "runs" / "1-train")
    lora_adapter(base, run.path("adapter"))
    transformers.AutoTokenizer.from_pretrained(str(base)).save_pretrained(str(run.path("adapter")))  # as training
    ref = LocalModelRef(id=str(base), device="cpu")
    options = {"gguf": True, "gguf_dtype": "f32", "ollama": True, "system_prompt": "Be brief."}

    checked = export_run(run, ref, tmp_path, **options)
    assert checked["verified"] and checked["merged_by"] == "shards"
    assert checked["identical"] == checked["prompts"] == 3 and checked["max_logit_diff"] < 1e-3
    assert checked["gguf"]["max_logit_diff"] < 1e-3 and checked["gguf"]["tokenizer_round_trip"]
    written = _digests(run.path("export"))
    assert {"model-f32.gguf", "Modelfile", "merged/model.safetensors"} <= set(written)
    modelfile = run.path("export", "Modelfile").read_text()
    assert 'PARAMETER stop "<|eot_id|>"' in modelfile

    _no_model_loads(monkeypatch)
    unchecked = export_run(run, ref, tmp_path, **options, verify=False)
    assert not unchecked["verified"] and unchecked["merged_by"] == "shards"
    assert "identical" not in unchecked and "max_logit_diff" not in unchecked["gguf"]
    assert _digests(run.path("export")) == written  # the same bytes, nothing compared


def test_a_full_fine_tune_exports_unverified_without_loading_it(
    family_dir,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = RunDir(tmp_path / "runs" / "1-train")
    shutil.copytree(family_dir(LLAMA3), run.path("model"))
    ref = LocalModelRef(id=str(run.path("model")), device="cpu")
    checked = export_run(run, ref, tmp_path, gguf=True, gguf_dtype="f16", ollama=True)
    assert checked["verified"] and checked["gguf"]["top1_agreement"] > 0.95
    written = _digests(run.path("export"))
    _no_model_loads(monkeypatch)
    unchecked = export_run(run, ref, tmp_path, gguf=True, gguf_dtype="f16", ollama=True, verify=False)
    assert not unchecked["verified"] and unchecked["model"] == str(run.path("model"))
    assert _digests(run.path("export")) == written
