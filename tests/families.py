"""Tiny random models of the families users bring, each with its family's chat template and special tokens.

Nothing can be downloaded here, so each family is built as transformers tests
itself: its config class shrunk to two layers of width 64, random weights,
and a tokenizer that renders chats the way the family's instruct models do.
The tokenizer is the bundled model's BPE vocabulary with the family's special
tokens added and its chat template set (written from the family's published
format: Llama 3's header blocks, ChatML, Gemma's turns, Mistral's [INST],
Phi-3's role tags, Phi-4's ChatML with <|im_sep|>). What a family test checks depends on the template and the
architecture, not on the vocabulary: the assistant-only loss mask, the end of
turn token, the modules all-linear adapts, a training step, a merge and a
generation that stops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.tiny_model import TINY as TINY_SHAPE

if TYPE_CHECKING:
    import torch

LLAMA3 = (
    "{{ bos_token }}{% for m in messages %}"
    "{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + m['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
CHATML_QWEN25 = (
    "{% if messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}"
    "{% endif %}{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
# Gemma has no system role: the system prompt opens the first user turn; the assistant is "model"
GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] + '\\n\\n' %}"
    "{% set turns = messages[1:] %}{% else %}{% set system = '' %}{% set turns = messages %}{% endif %}"
    "{% for m in turns %}{{ '<start_of_turn>' + ('model' if m['role'] == 'assistant' else m['role']) + '\\n' "
    "+ (system if loop.first else '') + m['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)
# Mistral puts the system prompt in front of the last user message
MISTRAL = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] %}"
    "{% set turns = messages[1:] %}{% else %}{% set system = '' %}{% set turns = messages %}{% endif %}"
    "{% for m in turns %}{% if m['role'] == 'user' %}"
    "{% if system and loop.index0 == turns|length - 1 or system and loop.index0 == turns|length - 2 %}"
    "{{ '[INST] ' + system + '\\n\\n' + m['content'] + '[/INST]' }}{% else %}{{ '[INST] ' + m['content'] + '[/INST]' }}"
    "{% endif %}{% else %}{{ ' ' + m['content'] + eos_token }}{% endif %}{% endfor %}"
)
PHI3 = (
    "{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + '<|end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}"
)

# Phi-4 (a Phi3ForCausalLM): ChatML's tokens with <|im_sep|> after the role and no newline between turns
PHI4 = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '<|im_sep|>' + m['content'] + '<|im_end|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant<|im_sep|>' }}{% endif %}"
)


@dataclass(frozen=True)
class Family:
    name: str
    config: str  # the transformers config class
    template: str
    end_of_turn: str  # the token that ends an assistant turn
    specials: tuple[str, ...]  # special tokens the family's tokenizer adds
    bos: str | None = None
    eos: str | None = None  # the tokenizer's eos when it is not the end-of-turn token
    linear: frozenset[str] = frozenset({"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})
    extra: dict[str, Any] = field(default_factory=dict)


GEMMA_SPECIALS = ("<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>")

FAMILIES = [
    Family(
        "llama3",
        "LlamaConfig",
        LLAMA3,
        "<|eot_id|>",
        ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
        bos="<|begin_of_text|>",
        eos="<|end_of_text|>",  # the base tokenizer's eos: the template's <|eot_id|> must still end answers
    ),
    Family("qwen2.5", "Qwen2Config", CHATML_QWEN25, "<|im_end|>", ("<|im_start|>", "<|im_end|>", "<|endoftext|>")),
    Family("qwen3", "Qwen3Config", CHATML, "<|im_end|>", ("<|im_start|>", "<|im_end|>", "<|endoftext|>")),
    # Gemma 2 and 3: the same turns and tokens (the tokenizer's eos is <eos>, turns end with <end_of_turn>)
    *(
        Family(name, config, GEMMA, "<end_of_turn>", GEMMA_SPECIALS, bos="<bos>", eos="<eos>")
        for name, config in (("gemma2", "Gemma2Config"), ("gemma3", "Gemma3TextConfig"))
    ),
    Family("mistral", "MistralConfig", MISTRAL, "</s>", ("<s>", "</s>"), bos="<s>"),
    Family(
        "phi3",
        "Phi3Config",
        PHI3,
        "<|end|>",
        ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|endoftext|>"),
        eos="<|endoftext|>",
        linear=frozenset({"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}),
        extra={"pad_token_id": None},
    ),
    Family(
        "phi4",
        "Phi3Config",
        PHI4,
        "<|im_end|>",
        ("<|im_start|>", "<|im_sep|>", "<|im_end|>", "<|endoftext|>"),
        bos="<|endoftext|>",
        linear=frozenset({"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}),
        extra={"pad_token_id": None},
    ),
]

TINY = {**TINY_SHAPE, "head_dim": TINY_SHAPE["hidden_size"] // TINY_SHAPE["num_attention_heads"]}
"""The bundled model's tiny shape (tests/tiny_model.py), head size explicit for every family's config."""


def build_family_model(family: Family, folder: Path, bundled_model_dir: str, *, seed: int = 0) -> Path:
    """Save a tiny random model of ``family`` with its chat template and special tokens into ``folder``."""
    import torch
    import transformers

    if (folder / "model.safetensors").is_file():
        return folder
    tokenizer = transformers.AutoTokenizer.from_pretrained(bundled_model_dir)
    tokenizer.add_special_tokens({"additional_special_tokens": list(family.specials)})
    tokenizer.chat_template = family.template
    tokenizer.eos_token = family.eos or family.end_of_turn
    if family.bos:
        tokenizer.bos_token = family.bos
    tokenizer.pad_token = tokenizer.eos_token
    config = getattr(transformers, family.config)(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **{**TINY, **family.extra},
        initializer_range=0.3,
    )
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def lora_adapter(base: Path, folder: Path, **changes: object) -> tuple[Path, dict[str, torch.Tensor]]:
    """A trained-looking all-linear LoRA adapter of ``base`` (B random, not PEFT's zeros), and PEFT's merge."""
    import peft
    import torch
    import transformers

    from tunesmith.train.modeling import lora_config

    model = transformers.AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    config = lora_config("sft-lora", r=8, alpha=16, dropout=0.0, target_modules="all-linear")
    for key, value in changes.items():
        setattr(config, key, value)
    adapted = peft.get_peft_model(model, config)
    torch.manual_seed(1)
    with torch.no_grad():
        for name, parameter in adapted.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.05)
    adapted.save_pretrained(str(folder))
    merged = adapted.merge_and_unload()
    return folder, {k: v.detach().clone() for k, v in merged.state_dict().items()}
