"""Every common model family end to end on a tiny random model with its real chat format.

For each family: the loss mask covers the assistant's reply and its end-of-turn token and nothing else;
the end-of-turn token stops generation even where the tokenizer's eos is another token; all-linear LoRA
adapts every linear layer of the family's decoder (and not the output layer); training steps lower the
loss until the model answers with the reply; the merged model gives the adapter's logits and answers;
the answer stops at the end of turn.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.families import FAMILIES, TINY, Family, build_family_model
from tunesmith.core.errors import ModelSourceError
from tunesmith.data.template import tokenize_chat, tokenize_turns
from tunesmith.models.generation import GenerationParams
from tunesmith.models.local import LocalGenerator, load_causal_lm, load_tokenizer
from tunesmith.models.spec import LocalModelRef
from tunesmith.train.modeling import lora_config

CHAT = [
    {"role": "system", "content": "You answer for Northwind."},
    {"role": "user", "content": "Do you ship to Canada?"},
    {"role": "assistant", "content": "Yes, in five days."},
]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_family_masks_trains_merges_and_stops(family: Family, family_dir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import peft

    folder = family_dir(family)
    model, tokenizer, _ = load_causal_lm(LocalModelRef(id=str(folder), device="cpu"), tmp_path)
    end = tokenizer.convert_tokens_to_ids(family.end_of_turn)

    # the loss mask: the reply and its end-of-turn token (then only what the template closes the turn with:
    # a newline, Phi-3's end of text), nothing of the prompt
    rendered = tokenize_chat(tokenizer, CHAT)
    trained = [t for t in rendered.labels if t != -100]
    cut = trained.index(end)
    assert tokenizer.decode(trained[:cut]).strip() == CHAT[-1]["content"]
    assert tokenizer.decode(trained[cut + 1 :], skip_special_tokens=True).strip() == ""
    # trained right after the prompt generation gives the model (Llama 3's header ends in a blank line, which the
    # bundled vocabulary tokenizes one way before a word and another at the end of a prompt)
    first = next(i for i, label in enumerate(rendered.labels) if label != -100)
    prompt = LocalGenerator(model, tokenizer, name=family.name).render(CHAT[:-1])
    assert rendered.input_ids[:first] == tokenizer(prompt, add_special_tokens=False)["input_ids"]
    # and a later turn's prompt, which holds an earlier answer, as generation encodes it (Llama 3's earlier
    # answer after its header's blank line, tokenized whole, read differently from how it was trained);
    # Mistral's template moves the system prompt to the last user turn, so it trains each turn on its own
    longer = [*CHAT, {"role": "user", "content": "And the strap?"}, {"role": "assistant", "content": "Yes, too."}]
    sequences = tokenize_turns(tokenizer, longer)
    assert len(sequences) == (2 if family.name == "mistral" else 1)
    starts = [
        (tokenized, i)
        for tokenized in sequences
        for i, label in enumerate(tokenized.labels)
        if label != -100 and tokenized.labels[i - 1] == -100
    ]
    assert len(starts) == 2  # both answers trained (Phi-3's, rendered as the last, close with end of text)
    generator = LocalGenerator(model, tokenizer, name=family.name)
    for (tokenized, start), turn in zip(starts, (2, 4), strict=True):
        assert tokenized.input_ids[:start] == generator.encode(generator.render(longer[:turn]))

    # the end of turn stops generation, whatever the tokenizer calls eos
    assert end in generator.stop_token_ids()

    # all-linear: every linear layer of the decoder, not the output layer
    torch.manual_seed(0)  # the adapter's initialization, whatever ran before
    adapted = peft.get_peft_model(
        model, lora_config("sft-lora", r=16, alpha=32, dropout=0.0, target_modules="all-linear")
    )
    targets = {name.rsplit(".", 1)[-1] for name, module in adapted.named_modules() if hasattr(module, "lora_A")}
    assert targets == set(family.linear)

    # training steps lower the loss until the model says the reply
    ids = torch.tensor([rendered.input_ids])
    labels = torch.tensor([rendered.labels])
    optimizer = torch.optim.AdamW([p for p in adapted.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(80):
        loss = adapted(input_ids=ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if loss.item() < 0.05:
            break
    assert losses[-1] < losses[0] / 20
    adapted.eval()
    prompt = CHAT[:-1]
    tuned = LocalGenerator(adapted, tokenizer, name=family.name)
    answer = tuned.generate([prompt], GenerationParams(max_new_tokens=24), adapter="default")[0]
    assert answer.text == CHAT[-1]["content"] and answer.finish_reason == "stop"

    # the merge gives the adapter's logits and answers
    with torch.inference_mode():
        expected = adapted(input_ids=ids).logits
    merged = adapted.merge_and_unload()
    with torch.inference_mode():
        got = merged(input_ids=ids).logits
    assert torch.allclose(got, expected, atol=1e-4)
    again = LocalGenerator(merged, tokenizer, name=family.name).generate([prompt], GenerationParams(max_new_tokens=24))
    assert again[0].text == answer.text and again[0].finish_reason == "stop"


def test_a_mistral_chat_with_a_system_prompt_trains_and_previews_each_turn(family_dir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    from tests.conftest import run_cli
    from tunesmith.train.sft import tokenize_records

    mistral = next(f for f in FAMILIES if f.name == "mistral")
    folder = family_dir(mistral)
    tokenizer = load_tokenizer(str(folder))
    chat = [*CHAT, {"role": "user", "content": "And the strap?"}, {"role": "assistant", "content": "Yes, too."}]
    rows, skipped = tokenize_records(tokenizer, [{"id": "a", "messages": chat}], 512, [tokenizer.eos_token_id], "train")
    assert len(rows) == 2 and skipped == []
    # a turn too long for train.max_length is set aside with its reason, the other kept
    first_length = len(rows[0]["input_ids"])
    rows, skipped = tokenize_records(
        tokenizer, [{"id": "a", "messages": chat}], first_length, [tokenizer.eos_token_id], "train"
    )
    assert len(rows) == 1 and [s["reason"].endswith("(turn 2 of 2)") for s in skipped] == [True]

    data = tmp_path / "chats.jsonl"
    data.write_text(json.dumps({"id": "a", "messages": chat}) + "\n")
    shown = run_cli(
        "data", "preview", "1", "--file", str(data), "--model", str(folder), "--html", str(tmp_path / "p.html")
    )
    assert shown.returncode == 0, shown.stderr
    assert "sequence 1 of 2" in shown.stderr and "sequence 2 of 2" in shown.stderr and "lint: ok" in shown.stderr
    assert "(sequence 2 of 2)" in (tmp_path / "p.html").read_text()


def test_a_model_without_a_chat_template_is_refused_with_the_fix(family_dir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    folder = tmp_path / "plain"
    shutil.copytree(family_dir(FAMILIES[0]), folder)
    for name in ("chat_template.jinja",):
        (folder / name).unlink(missing_ok=True)
    config = folder / "tokenizer_config.json"
    import json

    settings = json.loads(config.read_text())
    settings.pop("chat_template", None)
    config.write_text(json.dumps(settings))
    with pytest.raises(ModelSourceError) as caught:
        load_tokenizer(str(folder))
    assert "no chat template" in caught.value.what and "chat_template:" in (caught.value.fix or "")
    # the project file's template is used instead
    (tmp_path / "chatml.jinja").write_text(FAMILIES[2].template)
    ref = LocalModelRef(id=str(folder), chat_template="chatml.jinja", device="cpu")
    _, tokenizer, _ = load_causal_lm(ref, tmp_path)
    assert tokenizer.apply_chat_template(CHAT[1:2], tokenize=False).startswith("<|im_start|>user\n")
    outside = LocalModelRef(id=str(folder), chat_template="../escape.jinja", device="cpu")
    with pytest.raises(ModelSourceError, match="inside the project"):
        load_causal_lm(outside, tmp_path)


@pytest.mark.parametrize(
    ("family", "expected"),
    [
        (f, n)
        for f, n in zip(
            FAMILIES, ["llama3", "chatml", "chatml", "gemma", "gemma", "mistral", "phi3", "phi4"], strict=True
        )
    ],
    ids=lambda v: v.name if isinstance(v, Family) else v,
)
def test_the_ollama_modelfile_follows_the_family_chat_format(
    family: Family, expected: str, family_dir, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from tunesmith.train.ollama import chat_format, write_modelfile

    tokenizer = load_tokenizer(str(family_dir(family)))
    assert chat_format(tokenizer) == expected
    gguf = tmp_path / "model-f16.gguf"
    path = write_modelfile(gguf, tokenizer, [family.end_of_turn], 'Say "hi".')
    text = path.read_text()
    assert text.startswith("FROM ./model-f16.gguf\n")
    assert f'PARAMETER stop "{family.end_of_turn}"' in text
    assert 'SYSTEM """Say "hi"."""' in text


def test_an_unknown_chat_format_is_refused_with_the_fix(family_dir) -> None:  # type: ignore[no-untyped-def]
    from tunesmith.core.errors import StageError
    from tunesmith.train.ollama import chat_format

    tokenizer = load_tokenizer(str(family_dir(FAMILIES[0])))
    tokenizer.chat_template = "{% for m in messages %}### {{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    with pytest.raises(StageError) as caught:
        chat_format(tokenizer)
    assert "TEMPLATE by hand" in (caught.value.fix or "")


GGUF_WRITTEN = {
    "llama3": "llama",
    "mistral": "llama",
    "qwen2.5": "qwen2",
    "qwen3": "qwen3",
    "phi3": "phi3",
    "phi4": "phi3",
}


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_gguf_export_reads_back_with_the_same_logits_or_is_refused_with_the_fix(
    family: Family, bundled_model_dir: str, tmp_path: Path
) -> None:
    """The families llama.cpp runs from this writer's files (Llama, Mistral as a llama, Qwen2.5, Qwen3, Phi-3 and
    Phi-4) read back through transformers' GGUF loader with the model's logits and tokenizer; Gemma is refused with
    the fix (before, every family but Llama's was, and `export --gguf --ollama` failed on a Qwen fine-tune after
    writing its Modelfile's format)."""
    import dataclasses

    import transformers

    from tunesmith.core.errors import StageError
    from tunesmith.train.gguf_export import CONVERTER_FIX, write_gguf

    if family.name == "qwen3":  # Qwen3's heads are 128 wide whatever the hidden size, as transformers assumes
        family = dataclasses.replace(family, extra={**family.extra, "head_dim": 128})
    # named as export names it: transformers reads a llama GGUF whose name says "mistral" with a reader gguf lacks
    folder = build_family_model(family, tmp_path / "merged", bundled_model_dir)
    out = tmp_path / "gguf" / "model-f32.gguf"
    out.parent.mkdir()
    if family.name not in GGUF_WRITTEN:
        with pytest.raises(StageError) as caught:
            write_gguf(folder, out, dtype="f32")
        assert caught.value.fix == CONVERTER_FIX and not out.exists()
        return
    info = write_gguf(folder, out, dtype="f32")
    assert info["architecture"] == GGUF_WRITTEN[family.name] and info["tokenizer_pre"] == "gpt-2"
    original = transformers.AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    back = transformers.AutoModelForCausalLM.from_pretrained(str(out.parent), gguf_file=out.name, dtype=torch.float32)
    tokenizer = load_tokenizer(str(folder))
    ids = torch.tensor([tokenize_chat(tokenizer, CHAT).input_ids])
    with torch.inference_mode():
        assert torch.allclose(back(input_ids=ids).logits, original(input_ids=ids).logits, atol=1e-4)
    read = transformers.AutoTokenizer.from_pretrained(str(out.parent), gguf_file=out.name)
    assert read.encode("Hello Northwind 2026!") == tokenizer.encode("Hello Northwind 2026!")


def test_gguf_export_refuses_what_it_would_write_wrong(family_dir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """RoPE scaling other than Llama 3.1's and SentencePiece-style vocabularies were written as if absent: a file
    that loads and answers differently in llama.cpp. Both are refused now, with the converter as the fix."""
    import json
    import shutil

    from tunesmith.core.errors import StageError
    from tunesmith.train.gguf_export import CONVERTER_FIX, pre_tokenizer_name, write_gguf

    scaled = tmp_path / "qwen-yarn"
    shutil.copytree(family_dir(FAMILIES[1]), scaled)
    config = json.loads((scaled / "config.json").read_text())
    config["rope_scaling"] = config["rope_parameters"] = {
        "rope_type": "yarn",
        "rope_theta": 1000000.0,
        "factor": 4.0,
        "original_max_position_embeddings": 32768,
    }
    (scaled / "config.json").write_text(json.dumps(config))
    with pytest.raises(StageError, match="'yarn' RoPE scaling") as caught:
        write_gguf(scaled, tmp_path / "a.gguf")
    assert caught.value.fix == CONVERTER_FIX

    sentencepiece = tmp_path / "spm"
    shutil.copytree(family_dir(FAMILIES[0]), sentencepiece)
    spec = json.loads((sentencepiece / "tokenizer.json").read_text())
    spec["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}
    spec["decoder"] = {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]}
    (sentencepiece / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(StageError, match="SentencePiece-style"):
        write_gguf(sentencepiece, tmp_path / "b.gguf")

    # llama.cpp's names for the families' splits, read from their tokenizer.json
    def split(pattern: str) -> dict[str, object]:
        return {
            "pre_tokenizer": {
                "type": "Sequence",
                "pretokenizers": [
                    {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
                    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
                ],
            }
        }

    from tunesmith.train.gguf_export import LLAMA3_SPLIT, QWEN2_SPLIT

    assert pre_tokenizer_name(split(LLAMA3_SPLIT)) == "llama-bpe"
    assert pre_tokenizer_name(split(QWEN2_SPLIT)) == "qwen2"
    assert pre_tokenizer_name(split(r"\p{N}+|\s+")) == "default"
    smollm = {
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [{"type": "Digits", "individual_digits": True}, {"type": "ByteLevel", "use_regex": True}],
        }
    }
    assert pre_tokenizer_name(smollm) == "smollm"


def test_llama31_rope_scaling_goes_into_the_gguf_as_llama_cpp_reads_it(bundled_model_dir: str, tmp_path: Path) -> None:
    """Llama 3.1 and later scale RoPE ("llama3"): llama.cpp reads it from a rope_freqs tensor, each frequency divided
    by its factor. The factors reproduce transformers' own scaled frequencies, and the tensors read back give the
    model's logits under its settings (transformers itself ignores the tensor: without them the logits differ)."""
    import dataclasses

    import gguf
    import numpy as np
    import transformers

    from tunesmith.train.gguf_export import write_gguf

    rope = {
        "rope_type": "llama3",
        "rope_theta": 500000.0,
        "factor": 32.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64,  # short, so a tiny model's positions reach past it
    }
    family = dataclasses.replace(FAMILIES[0], extra={"rope_parameters": rope, "max_position_embeddings": 1024})
    folder = build_family_model(family, tmp_path / "merged", bundled_model_dir)
    out = tmp_path / "gguf" / "model-f32.gguf"
    out.parent.mkdir()
    assert write_gguf(folder, out, dtype="f32")["rope_freqs"]
    (factors,) = [np.asarray(t.data) for t in gguf.GGUFReader(str(out)).tensors if t.name == "rope_freqs.weight"]
    original = transformers.AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    width = 2 * len(factors)
    plain = 1.0 / rope["rope_theta"] ** (np.arange(0, width, 2) / width)
    assert np.allclose(plain / factors, original.model.rotary_emb.inv_freq.double().numpy(), rtol=1e-6)
    assert factors.min() == 1.0 and factors.max() == pytest.approx(32.0)  # high frequencies kept, low ones scaled

    config = transformers.AutoConfig.from_pretrained(str(folder))
    back = transformers.AutoModelForCausalLM.from_pretrained(
        str(out.parent), gguf_file=out.name, config=config, dtype=torch.float32
    )
    unscaled = transformers.AutoModelForCausalLM.from_pretrained(
        str(out.parent), gguf_file=out.name, dtype=torch.float32
    )
    ids = torch.arange(200).unsqueeze(0) % 1000
    with torch.inference_mode():
        expected = original(input_ids=ids).logits
        assert torch.allclose(back(input_ids=ids).logits, expected, atol=1e-4)
        assert not torch.allclose(unscaled(input_ids=ids).logits, expected, atol=1e-2)


@pytest.mark.parametrize("dtype", ["f16", "bf16", "q8_0"])
def test_gguf_export_in_the_types_llama_cpp_converts_to(dtype: str, family_dir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`--gguf-dtype` f16, bf16 and q8_0 (llama.cpp's converter's types): matrices in the type, 1-D tensors in f32,
    and every weight read back within the type's rounding of the original (a misplaced block or a wrong permutation
    would be off by the weights' own size)."""
    import shutil

    import transformers

    from tunesmith.train.gguf_export import write_gguf

    folder = tmp_path / "merged"
    shutil.copytree(family_dir(FAMILIES[0]), folder)  # Llama 3: q and k permuted on the way
    out = tmp_path / "gguf" / f"model-{dtype}.gguf"
    out.parent.mkdir()
    info = write_gguf(folder, out, dtype=dtype)
    assert set(info["tensor_types"]) == {dtype, "f32"} and info["tensor_types"]["f32"] == 5  # 2 layers x 2 norms + 1
    original = transformers.AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).state_dict()
    back = transformers.AutoModelForCausalLM.from_pretrained(str(out.parent), gguf_file=out.name, dtype=torch.float32)
    for name, weight in back.state_dict().items():
        error = (weight - original[name]).abs()
        if dtype == "q8_0" and weight.dim() == 2:  # blocks of 32 scaled to +-127: within half a step of the largest
            assert float(error.max()) <= float(original[name].abs().max()) / 127, name
        else:  # f16 and bf16 round each weight: 11 and 8 significant bits
            bits = 8 if dtype == "bf16" and weight.dim() == 2 else 11
            assert bool((error <= original[name].abs() * 2.0**-bits + 1e-7).all()), name


def test_a_partly_rotated_head_is_written_as_llama_cpp_reads_it(bundled_model_dir: str, tmp_path: Path) -> None:
    """Phi-4-mini rotates three quarters of each head: llama.cpp reads the rotated width from rope.dimension_count
    (transformers reads none and assumes all of it: the read-back runs the model's config)."""
    import dataclasses

    import gguf
    import transformers

    from tunesmith.train.gguf_export import write_gguf

    phi4 = next(f for f in FAMILIES if f.name == "phi4")
    family = dataclasses.replace(phi4, extra={**phi4.extra, "partial_rotary_factor": 0.75})
    folder = build_family_model(family, tmp_path / "merged", bundled_model_dir)
    out = tmp_path / "gguf" / "model-f32.gguf"
    out.parent.mkdir()
    assert write_gguf(folder, out, dtype="f32")["read_back_with_config"]
    field = gguf.GGUFReader(str(out)).fields["phi3.rope.dimension_count"]
    assert int(field.parts[field.data[0]][0]) == TINY["head_dim"] * 3 // 4
    config = transformers.AutoConfig.from_pretrained(str(folder))
    original = transformers.AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    back = transformers.AutoModelForCausalLM.from_pretrained(
        str(out.parent), gguf_file=out.name, config=config, dtype=torch.float32
    )
    ids = torch.arange(40).unsqueeze(0)
    with torch.inference_mode():
        assert torch.allclose(back(input_ids=ids).logits, original(input_ids=ids).logits, atol=1e-4)


def test_gguf_export_reads_one_tensor_at_a_time_and_bf16_checkpoints(family_dir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A full fine-tune on a GPU saves bf16 weights, which numpy cannot hold (the earlier writer read the checkpoint
    with safetensors' numpy loader, whole). The streamed file is byte for byte the one the earlier way writes
    (bench/gguf_export.py measures the memory)."""
    import transformers

    from tunesmith.train.gguf_export import write_gguf

    model = transformers.AutoModelForCausalLM.from_pretrained(str(family_dir(FAMILIES[0])), dtype=torch.bfloat16)
    folder = tmp_path / "merged"
    model.save_pretrained(str(folder))
    load_tokenizer(str(family_dir(FAMILIES[0]))).save_pretrained(str(folder))
    streamed, held = tmp_path / "streamed" / "m.gguf", tmp_path / "held" / "m.gguf"
    for out, stream in ((streamed, True), (held, False)):
        out.parent.mkdir()
        write_gguf(folder, out, dtype="q8_0", stream=stream)
    assert streamed.read_bytes() == held.read_bytes()
    exact = tmp_path / "f32" / "m.gguf"  # bf16 widened to f32 loses nothing: the same logits
    exact.parent.mkdir()
    write_gguf(folder, exact, dtype="f32")
    back = transformers.AutoModelForCausalLM.from_pretrained(
        str(exact.parent), gguf_file=exact.name, dtype=torch.float32
    )
    ids = torch.arange(30).unsqueeze(0)
    with torch.inference_mode():
        assert torch.allclose(back(input_ids=ids).logits, model.float()(input_ids=ids).logits, atol=1e-4)
