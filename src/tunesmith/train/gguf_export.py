"""Write a llama-family model as a GGUF file with the `gguf` package's writer, the format llama.cpp runs.

Tensor names follow gguf's own name map; the query and key projections are
permuted the way llama.cpp's converter does (its RoPE pairs dimensions
differently from Hugging Face's), which is also what transformers undoes when
it reads a GGUF. The tokenizer (BPE vocabulary, merges, special tokens) and the
chat template go into the metadata, so the file is self-contained.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.core.deps import require
from tunesmith.core.errors import StageError

SUPPORTED = {"llama"}


def _permute(weights: np.ndarray, heads: int) -> np.ndarray:
    return (
        weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def write_gguf(model_dir: Path, out: Path, *, dtype: str = "f16") -> dict[str, Any]:
    gguf = require("gguf", purpose="GGUF export")
    transformers = require("transformers")
    config = transformers.AutoConfig.from_pretrained(str(model_dir))
    if config.model_type not in SUPPORTED:
        raise StageError(
            f"GGUF export supports {', '.join(sorted(SUPPORTED))} models, not '{config.model_type}'",
            fix="Use llama.cpp's convert_hf_to_gguf.py on the merged folder for other architectures.",
        )
    from safetensors.numpy import load_file

    tensors: dict[str, np.ndarray] = {}
    for file in sorted(model_dir.glob("*.safetensors")):
        tensors.update(load_file(str(file)))
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    writer = gguf.GGUFWriter(str(out), "llama")
    writer.add_name(model_dir.name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    rope = getattr(config, "rope_parameters", None) or {}
    writer.add_rope_freq_base(float(rope.get("rope_theta", getattr(config, "rope_theta", 10000.0))))
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if dtype == "f16" else gguf.LlamaFileType.ALL_F32)
    _tokenizer(writer, model_dir, gguf)

    count = 0
    for name, array in tensors.items():
        if name == "lm_head.weight" and getattr(config, "tie_word_embeddings", False):
            continue  # tied to the embeddings: llama.cpp reads token_embd for both
        stem = name.removesuffix(".weight").removesuffix(".bias")
        mapped = name_map.get_name(stem)
        if mapped is None:
            raise StageError(f"no GGUF name for tensor {name}", fix="This architecture variant is not supported.")
        suffix = name[len(stem) :]
        array = array.astype(np.float32)
        if stem.endswith("self_attn.q_proj"):
            array = _permute(array, config.num_attention_heads)
        elif stem.endswith("self_attn.k_proj"):
            array = _permute(array, config.num_key_value_heads)
        # llama.cpp keeps 1-D tensors (norms, biases) in fp32 whatever the file type
        if dtype == "f16" and array.ndim > 1:
            array = array.astype(np.float16)
        writer.add_tensor(mapped + suffix, array)
        count += 1
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {"path": str(out), "tensors": count, "size_mib": out.stat().st_size / 2**20, "dtype": dtype}


def _tokenizer(writer: Any, model_dir: Path, gguf: Any) -> None:
    spec = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    model = spec["model"]
    if model.get("type") != "BPE":
        raise StageError("GGUF export needs a BPE tokenizer", fix="Use llama.cpp's converter for this tokenizer.")
    vocab: dict[str, int] = dict(model["vocab"])
    special = {}
    for token in spec.get("added_tokens", []):
        vocab[token["content"]] = token["id"]
        if token.get("special"):
            special[token["id"]] = token["content"]
    size = max(vocab.values()) + 1
    tokens = [f"[PAD{i}]" for i in range(size)]
    types = [gguf.TokenType.UNUSED] * size
    for text, index in vocab.items():
        tokens[index] = text
        types[index] = gguf.TokenType.CONTROL if index in special else gguf.TokenType.NORMAL
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm" if "smollm" in model_dir.as_posix().lower() else "default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    config = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))

    def token_id(key: str) -> int | None:
        value = config.get(key)
        if isinstance(value, dict):
            value = value.get("content")
        return vocab.get(value) if value else None

    for key, add in (
        ("bos_token", writer.add_bos_token_id),
        ("eos_token", writer.add_eos_token_id),
        ("pad_token", writer.add_pad_token_id),
        ("unk_token", writer.add_unk_token_id),
    ):
        found = token_id(key)
        if found is not None:
            add(found)
    writer.add_add_bos_token(False)  # chat templates write their own BOS
    template = model_dir / "chat_template.jinja"
    if template.exists():
        writer.add_chat_template(template.read_text(encoding="utf-8"))
