"""Write a model as a GGUF file with the `gguf` package's writer, the format llama.cpp runs.

Llama (and Mistral, which llama.cpp runs as a llama), Qwen2 (Qwen2.5), Qwen3 and
Phi-3 (Phi-4) decoders: tensor names follow gguf's own name map for the architecture; for the
llama architecture the query and key projections are permuted the way
llama.cpp's converter does (its RoPE pairs dimensions differently from Hugging
Face's), which is also what transformers undoes when it reads a GGUF. The
tokenizer (byte-level BPE vocabulary, merges, special tokens, and the name of
the pre-tokenizer llama.cpp should split text with) and the chat template go
into the metadata, so the file is self-contained; Llama 3.1's RoPE scaling is
written as llama.cpp's `rope_freqs` tensor. What this writer cannot write exactly
(other architectures, other RoPE scaling, SentencePiece tokenizers) is refused
with the fix rather than written wrong.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.core.deps import require
from tunesmith.core.errors import ConfigError, StageError

# transformers model_type -> (gguf architecture, whether llama.cpp's converter permutes q and k for it)
ARCHITECTURES = {
    "llama": ("LLAMA", True),
    "mistral": ("LLAMA", True),  # llama.cpp's converter writes Mistral models as llamas
    "qwen2": ("QWEN2", False),
    "qwen3": ("QWEN3", False),
    "phi3": ("PHI3", False),  # Phi-3 and Phi-4: fused qkv_proj and gate_up_proj, as llama.cpp keeps them
}
SUPPORTED = set(ARCHITECTURES)
# --gguf-dtype -> gguf's LlamaFileType: the types llama.cpp's own converter writes (its --outtype)
FILE_TYPES = {"f32": "ALL_F32", "f16": "MOSTLY_F16", "bf16": "MOSTLY_BF16", "q8_0": "MOSTLY_Q8_0"}
CONVERTER_FIX = "Export without --gguf (the merged safetensors folder) and run llama.cpp's convert_hf_to_gguf.py on it."

# the pre-tokenizer split patterns llama.cpp names (its `tokenizer.ggml.pre`), from the families' tokenizer.json
LLAMA3_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPLIT_PRE = {LLAMA3_SPLIT: "llama-bpe", QWEN2_SPLIT: "qwen2"}


def _permute(weights: np.ndarray, heads: int) -> np.ndarray:
    return (
        weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def check_gguf_type(dtype: str) -> None:
    if dtype not in FILE_TYPES:
        raise ConfigError(
            f"unknown GGUF tensor type '{dtype}'",
            where="--gguf-dtype",
            fix=f"Use one of {', '.join(FILE_TYPES)} (llama.cpp's llama-quantize makes K-quants such as Q4_K_M "
            "from the f16 file).",
        )


def _stored_as(shape: Sequence[int], dtype: str, gguf: Any) -> tuple[np.dtype, Any]:
    """(numpy dtype of a tensor as written, its GGML type when it is written as encoded bytes), as llama.cpp's
    converter decides: 1-D tensors (norms, biases) stay fp32 whatever the file type; a bf16 or Q8_0 file stores
    in f16 the matrices whose rows do not split into the type's blocks."""
    if dtype == "f32" or len(shape) < 2:
        return np.dtype(np.float32), None
    if dtype == "f16":
        return np.dtype(np.float16), None
    kind = gguf.GGMLQuantizationType.BF16 if dtype == "bf16" else gguf.GGMLQuantizationType.Q8_0
    if shape[-1] % gguf.GGML_QUANT_SIZES[kind][0]:
        return np.dtype(np.float16), None
    return np.dtype(np.uint8), kind


def _encode(array: np.ndarray, dtype: str, gguf: Any) -> tuple[np.ndarray, Any]:
    np_dtype, kind = _stored_as(array.shape, dtype, gguf)
    if kind is None:
        return array.astype(np_dtype, copy=False), None
    return gguf.quants.quantize(array, kind), kind


def _type_name(array: np.ndarray, kind: Any) -> str:
    return kind.name.lower() if kind is not None else {"float32": "f32", "float16": "f16"}[str(array.dtype)]


def _gguf_name(name: str, name_map: Any) -> str:
    stem = name.removesuffix(".weight").removesuffix(".bias")
    mapped = name_map.get_name(stem)
    if mapped is None:
        raise StageError(f"no GGUF name for tensor {name}", fix="This architecture variant is not supported.")
    return str(mapped) + name[len(stem) :]


def _tensor_names(file: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(file), framework="pt") as f:
        return list(f.keys())


def _tensor_shape(file: Path, name: str) -> list[int]:
    from safetensors import safe_open

    with safe_open(str(file), framework="pt") as f:
        return list(f.get_slice(name).get_shape())


def _read_fp32(file: Path, name: str) -> np.ndarray:
    from safetensors import safe_open

    with safe_open(str(file), framework="pt") as f:
        return f.get_tensor(name).float().numpy()


def write_gguf(model_dir: Path, out: Path, *, dtype: str = "f16", stream: bool = True) -> dict[str, Any]:
    check_gguf_type(dtype)
    gguf = require("gguf", purpose="GGUF export")

    transformers = require("transformers")
    config = transformers.AutoConfig.from_pretrained(str(model_dir))
    if config.model_type not in ARCHITECTURES:
        raise StageError(
            f"GGUF export writes {', '.join(sorted(SUPPORTED))} models, not '{config.model_type}'",
            fix=CONVERTER_FIX,
        )
    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type not in ("default", "llama3") or (rope_type == "llama3" and config.model_type != "llama"):
        # YaRN, linear, dynamic: llama.cpp needs scaling metadata this writer does not write
        raise StageError(f"GGUF export does not write '{rope_type}' RoPE scaling (config.json)", fix=CONVERTER_FIX)
    arch_name, permute = ARCHITECTURES[config.model_type]
    arch = getattr(gguf.MODEL_ARCH, arch_name)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    # (file, name) of every tensor written; tied output weights are llama.cpp's token_embd read twice
    sources = [
        (file, name)
        for file in sorted(model_dir.glob("*.safetensors"))
        for name in _tensor_names(file)
        if not (tied and name == "lm_head.weight")
    ]
    name_map = gguf.get_tensor_name_map(arch, config.num_hidden_layers)
    # written beside its name and renamed whole: an export killed mid-write leaves no GGUF that looks finished
    partial = out.with_name(out.name + ".part")
    writer = gguf.GGUFWriter(str(partial), gguf.MODEL_ARCH_NAMES[arch])
    writer.add_name(model_dir.name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(float(rope.get("rope_theta", getattr(config, "rope_theta", 10000.0))))
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    # the rotated part of a head (Phi-4-mini rotates three quarters of it)
    rotary = int(head_dim * float(rope.get("partial_rotary_factor", getattr(config, "partial_rotary_factor", 1.0))))
    writer.add_rope_dimension_count(rotary)
    if config.model_type == "phi3" and getattr(config, "sliding_window", None):
        writer.add_sliding_window(int(config.sliding_window))  # Phi-3 mini attends to the last 2047 tokens
    # Qwen3's heads are not hidden / heads wide (0.6B: 128 against 64): llama.cpp reads their width here
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(getattr(gguf.LlamaFileType, FILE_TYPES[dtype]))
    pre = _tokenizer(writer, model_dir, gguf)

    heads = {"self_attn.q_proj": config.num_attention_heads, "self_attn.k_proj": config.num_key_value_heads}

    def encoded(file: Path, name: str, loaded: dict[str, Any] | None = None) -> tuple[str, np.ndarray, Any]:
        """(GGUF name, the tensor as written, its GGML type when encoded): one tensor read, in fp32 whatever the
        checkpoint's dtype (numpy has no bf16; a GPU full fine-tune saves bf16)."""
        array = loaded[name].float().numpy() if loaded is not None else _read_fp32(file, name)
        for projection, count in heads.items():
            if permute and name.removesuffix(".weight").removesuffix(".bias").endswith(projection):
                array = _permute(array, count)
        array, kind = _encode(array, dtype, gguf)
        return _gguf_name(name, name_map), array, kind

    extra = []
    if rope_type == "llama3":
        extra.append((gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight", llama3_rope_factors(config), None))
    kinds = Counter[str]()
    if stream:
        # tensor infos first (shapes and types need no data), then each tensor read, encoded, written and
        # dropped in turn: memory holds one tensor, not the model (an 8B model is 32 GB in fp32)
        for file, name in sources:
            shape = _tensor_shape(file, name)
            np_dtype, kind = _stored_as(shape, dtype, gguf)
            stored = gguf.quant_shape_to_byte_shape(shape, kind) if kind is not None else shape
            nbytes = int(np.prod(stored)) * np_dtype.itemsize
            writer.add_tensor_info(_gguf_name(name, name_map), stored, np_dtype, nbytes, kind)
        for gguf_name, array, kind in extra:
            writer.add_tensor_info(gguf_name, array.shape, array.dtype, array.nbytes, kind)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for file, name in sources:
            _, array, kind = encoded(file, name)
            writer.write_tensor_data(array)
            kinds[_type_name(array, kind)] += 1
        for _, array, kind in extra:
            writer.write_tensor_data(array)
            kinds[_type_name(array, kind)] += 1
    else:  # the earlier way, kept for bench/gguf_export.py: the checkpoint read whole, every tensor held to the end
        from safetensors.torch import load_file

        whole = {name: tensor for file in sorted({f for f, _ in sources}) for name, tensor in load_file(file).items()}
        for gguf_name, array, kind in [*(encoded(file, name, whole) for file, name in sources), *extra]:
            writer.add_tensor(gguf_name, array, raw_dtype=kind)
            kinds[_type_name(array, kind)] += 1
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    count = sum(kinds.values())
    writer.close()
    partial.replace(out)
    return {
        "path": str(out),
        "architecture": gguf.MODEL_ARCH_NAMES[arch],
        "tensors": count,
        "size_mib": out.stat().st_size / 2**20,
        "dtype": dtype,
        "tensor_types": dict(kinds),
        "tokenizer_pre": pre,
        "rope_freqs": rope_type == "llama3",
        # what transformers does not read back from a GGUF's metadata (llama.cpp does): the read-back takes the
        # model's own config to compare the tensors
        "read_back_with_config": rope_type == "llama3" or rotary != head_dim,
    }


def llama3_rope_factors(config: Any) -> np.ndarray:
    """llama.cpp's `rope_freqs` tensor for Llama 3.1 and later: per rotary frequency, what their RoPE scaling divides
    it by (llama.cpp divides each frequency by its factor), taken from transformers' own llama3 frequencies, so the
    file rotates exactly as the model was trained."""
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    scaled, _ = ROPE_INIT_FUNCTIONS["llama3"](config, "cpu")
    scaled = scaled.double().numpy()
    theta = float(config.rope_parameters["rope_theta"])
    dim = 2 * len(scaled)  # the rotated width (partial rotary models rotate part of a head)
    plain = 1.0 / theta ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    return (plain / scaled).astype(np.float32)


def pre_tokenizer_name(spec: dict[str, Any]) -> str:
    """llama.cpp's name for how a tokenizer.json splits text before BPE ("default" when not recognized: llama.cpp
    then splits with its default pattern, which may differ from the model's own)."""
    pre = spec.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    for step in steps:
        if step.get("type") == "Split":
            return SPLIT_PRE.get(str((step.get("pattern") or {}).get("Regex")), "default")
    kinds = [step.get("type") for step in steps]
    if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits"):
        return "smollm"  # SmolLM's own tokenizer: each digit alone, then GPT-2's split
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"  # GPT-2's split alone (the bundled model's tokenizer as transformers reads its GGUF)
    return "default"


def _tokenizer(writer: Any, model_dir: Path, gguf: Any) -> str:
    spec = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    model = spec["model"]
    byte_level = "ByteLevel" in json.dumps([spec.get("pre_tokenizer"), spec.get("decoder")])
    if model.get("type") != "BPE" or not byte_level:
        # SentencePiece-style vocabularies (Llama 2, Mistral v0.3, Gemma, Phi-3) are a different tokenizer model
        # in llama.cpp ("llama", with scores): written as byte-level BPE they would split text wrongly
        raise StageError(
            "GGUF export writes byte-level BPE tokenizers (Llama 3, Qwen, SmolLM); this model's is "
            + ("SentencePiece-style BPE" if model.get("type") == "BPE" else str(model.get("type"))),
            fix=CONVERTER_FIX,
        )
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
    pre = pre_tokenizer_name(spec)
    writer.add_tokenizer_pre(pre)
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
    return pre
