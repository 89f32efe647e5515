"""`tunesmith export --ollama`: a Modelfile next to the GGUF, so `ollama create` runs the model as trained.

Ollama renders chats with Go templates, not the Jinja templates Hugging Face
tokenizers carry, so the Modelfile's TEMPLATE is written for the chat format
the model's own template produces. The format is recognised from what the
Jinja template renders (its markers), not from the model's name: Llama 3's
header blocks, ChatML (Qwen, SmolLM2, many fine-tunes), Gemma's turns,
Mistral's [INST], Phi-3's role tags, Phi-4's ChatML with ``<|im_sep|>``. The stop parameters are the tokens that
end an assistant turn (what `tunesmith` itself stops on); the project's system
prompt becomes SYSTEM. A format not recognised is an error that says how to
write the TEMPLATE by hand, never a guess.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesmith.core.atomic import atomic_write_text
from tunesmith.core.errors import StageError

FORMATS: dict[str, tuple[str, str]] = {
    # name: (a marker its rendering contains, the Go template); the first marker found decides, so Phi-4
    # (ChatML's tokens, <|im_sep|> after the role) comes before ChatML
    "llama3": (
        "<|start_header_id|>",
        "{{- if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}"
        "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>"
        "{{- end }}<|start_header_id|>assistant<|end_header_id|>\n\n",
    ),
    "phi4": (
        "<|im_sep|>",
        "{{- if .System }}<|im_start|>system<|im_sep|>{{ .System }}<|im_end|>{{ end }}"
        "{{- range .Messages }}<|im_start|>{{ .Role }}<|im_sep|>{{ .Content }}<|im_end|>{{ end }}"
        "<|im_start|>assistant<|im_sep|>",
    ),
    "chatml": (
        "<|im_start|>",
        "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
        "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n",
    ),
    "gemma": (
        "<start_of_turn>",
        '{{- range $i, $m := .Messages }}{{- if eq $m.Role "assistant" }}<start_of_turn>model\n'
        "{{ $m.Content }}<end_of_turn>\n{{- else }}<start_of_turn>user\n{{ if and (eq $i 0) $.System }}"
        "{{ $.System }}\n\n{{ end }}{{ $m.Content }}<end_of_turn>\n{{- end }}{{- end }}<start_of_turn>model\n",
    ),
    "mistral": (
        "[INST]",
        '{{- range $i, $m := .Messages }}{{- if eq $m.Role "user" }}[INST] '
        "{{ if and $.System (eq (len (slice $.Messages $i)) 1) }}{{ $.System }}\n\n{{ end }}{{ $m.Content }}[/INST]"
        '{{- else if eq $m.Role "assistant" }} {{ $m.Content }}</s>{{- end }}{{- end }}',
    ),
    "phi3": (
        "<|assistant|>",
        "{{- if .System }}<|system|>\n{{ .System }}<|end|>\n{{ end }}"
        "{{- range .Messages }}<|{{ .Role }}|>\n{{ .Content }}<|end|>\n{{ end }}<|assistant|>\n",
    ),
}


def chat_format(tokenizer: Any) -> str:
    """Which known chat format the tokenizer's template renders."""
    chat = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}]
    text = str(tokenizer.apply_chat_template(chat, tokenize=False))
    for name, (marker, _) in FORMATS.items():
        if marker in text:
            return name
    raise StageError(
        "the model's chat template is not one of the formats the Modelfile writer knows "
        f"({', '.join(FORMATS)}): it rendered {text[:120]!r}",
        fix="Export without --ollama and write the Modelfile's TEMPLATE by hand "
        "(https://github.com/ollama/ollama/blob/main/docs/template.md), with a PARAMETER stop per end-of-turn token.",
    )


def write_modelfile(gguf: Path, tokenizer: Any, stop_tokens: list[str], system: str | None) -> Path:
    """Write `Modelfile` next to ``gguf``; returns its path."""
    name = chat_format(tokenizer)
    lines = [f"FROM ./{gguf.name}", f'TEMPLATE """{FORMATS[name][1]}"""']
    for token in dict.fromkeys(stop_tokens):
        lines.append(f"PARAMETER stop {_quoted(token)}")
    if system:
        lines.append(f'SYSTEM """{system.replace(chr(34) * 3, chr(39) * 3)}"""')
    path = gguf.parent / "Modelfile"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def _quoted(token: str) -> str:
    return '"' + token.replace("\\", "\\\\").replace('"', '\\"') + '"'
