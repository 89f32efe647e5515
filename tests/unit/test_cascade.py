"""A shared prompt prefix held once: the two-part attention is SDPA's over the copied prefix, and decoding
with it, through joins of batches whose prefixes differ, answers what copying the prefix answers."""

from __future__ import annotations

import pytest
import torch
import transformers

from tunesmith.models import cascade, kvcache
from tunesmith.models.decode import decode_continuous


def _reference(query, key, value, mask, prefix_keys, prefix_values, scale):
    """SDPA over the prefix copied into every row, then each row's own part (heads repeated per group)."""
    rows, heads = query.shape[:2]
    group = heads // key.shape[1]
    keys = torch.cat([prefix_keys.expand(rows, -1, -1, -1), key], dim=2).repeat_interleave(group, dim=1)
    values = torch.cat([prefix_values.expand(rows, -1, -1, -1), value], dim=2).repeat_interleave(group, dim=1)
    q_len, prefix = query.shape[2], prefix_keys.shape[2]
    if mask is None:
        mask = torch.ones(q_len, key.shape[2], dtype=torch.bool).tril(key.shape[2] - q_len)[None, None]
    full = torch.cat([torch.ones(*mask.shape[:-1], prefix, dtype=torch.bool), mask.bool()], dim=-1)
    out = torch.nn.functional.scaled_dot_product_attention(query, keys, values, attn_mask=full, scale=scale)
    return out.transpose(1, 2)


@pytest.mark.parametrize("heads,kv_heads", [(6, 2), (4, 4), (9, 3)])
@pytest.mark.parametrize("q_len,masked", [(1, True), (1, False), (5, True), (5, False)])
def test_two_part_attention_is_sdpa_over_the_copied_prefix(heads, kv_heads, q_len, masked) -> None:
    torch.manual_seed(heads * 10 + q_len)
    rows, dim, prefix, own = 3, 16, 7, 9
    query = torch.randn(rows, heads, q_len, dim)
    key, value = torch.randn(rows, kv_heads, own, dim), torch.randn(rows, kv_heads, own, dim)
    prefix_keys, prefix_values = torch.randn(1, kv_heads, prefix, dim), torch.randn(1, kv_heads, prefix, dim)
    mask = None
    if masked:  # left padding of 0, 2 and 4 columns in the rows' own part, causal over the last q_len
        causal = torch.ones(q_len, own, dtype=torch.bool).tril(own - q_len)
        padding = torch.arange(own)[None, :] >= torch.tensor([0, 2, 4])[:, None]
        mask = (causal[None] & padding[:, None, :])[:, None]
    got = cascade.attend(query, key, value, mask, prefix_keys, prefix_values, scaling=0.3)
    want = _reference(query, key, value, mask, prefix_keys, prefix_values, 0.3)
    assert got.shape == (rows, q_len, heads, dim)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_half_precision_keeps_the_softmax_in_float32() -> None:
    torch.manual_seed(1)
    query = torch.randn(2, 4, 1, 8)
    key, value = torch.randn(2, 2, 5, 8), torch.randn(2, 2, 5, 8)
    prefix_keys, prefix_values = torch.randn(1, 2, 6, 8), torch.randn(1, 2, 6, 8)
    want = _reference(query, key, value, None, prefix_keys, prefix_values, None)
    half = [t.bfloat16() for t in (query, key, value)]
    got = cascade.attend(*half, None, prefix_keys.bfloat16(), prefix_values.bfloat16())
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), want, atol=3e-2, rtol=3e-2)


def _tiny_llama() -> transformers.LlamaForCausalLM:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=96,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        attn_implementation="sdpa",
    )
    model = transformers.LlamaForCausalLM(config).eval()
    # a sharper output layer than initialization gives, so that rounding cannot flip a greedy choice
    with torch.no_grad():
        model.lm_head.weight.mul_(20)
    return model


def test_demote_moves_the_prefix_tail_into_every_row() -> None:
    model = _tiny_llama()
    ids = torch.arange(3, 23)[None]
    one = kvcache.new_cache(model)
    with torch.inference_mode():
        model(input_ids=ids, attention_mask=torch.ones_like(ids), cache=one, use_cache=True)
        cache = kvcache.sharing(model, one)
        rest = torch.tensor([[30, 31], [40, 41], [50, 51]])
        with cascade.attending(cache):
            model(input_ids=rest, position_ids=torch.tensor([[20, 21]] * 3), cache=cache, use_cache=True)
    assert kvcache.prefix_length(cache) == 20 and cache.layers[0].keys.shape[:3] == (3, 2, 2)
    own = cache.layers[1].keys.clone()
    kvcache.demote(cache, 12)
    layer = cache.layers[1]
    assert kvcache.prefix_length(cache) == 12 and layer.keys.shape[2] == 10
    torch.testing.assert_close(layer.keys[:, :, :8], one.layers[1].keys[:, :, 12:].expand(3, -1, -1, -1))
    torch.testing.assert_close(layer.keys[:, :, 8:], own)
    kvcache.demote(cache, 0)
    assert kvcache.prefix_length(cache) == 0 and layer.prefix is None and layer.keys.shape[2] == 22


def test_decoding_with_the_prefix_held_once_answers_what_copying_it_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Groups of two prompts join one running batch: two with one long prefix, then two whose prefix
    differs after its first 72 tokens (the batch keeps those once and copies the rest into the rows),
    then single prompts (everything copied)."""
    model = _tiny_llama()
    torch.manual_seed(5)
    common = torch.randint(3, 96, (cascade.MIN_PREFIX + 8,)).tolist()
    first, second = common + torch.randint(3, 96, (14,)).tolist(), common + torch.randint(3, 96, (10,)).tolist()
    prompts = [first + torch.randint(3, 96, (n,)).tolist() for n in (9, 8)]
    prompts += [second + torch.randint(3, 96, (n,)).tolist() for n in (7, 6)]
    prompts += [torch.randint(3, 96, (n,)).tolist() for n in (5, 4)]
    demoted: list[int] = []
    real = kvcache.demote
    monkeypatch.setattr(kvcache, "demote", lambda cache, keep: demoted.append(keep) or real(cache, keep))

    lengths = [3, 12, 4, 12, 12, 12]  # answers that end early free rows for the next prompts

    def run(enabled: bool) -> list[list[int]]:
        monkeypatch.setattr(cascade, "ENABLED", enabled)
        return decode_continuous(
            model,
            prompts,
            pad_id=0,
            max_new_tokens=12,
            eos_ids=set(),
            stopped=lambda index, ids: len(ids) >= lengths[index],
            max_rows=4,
            prefill_tokens=2 * len(prompts[0]),  # two prompts a group
        )

    once = run(True)
    assert sorted(set(demoted)) == [0, cascade.MIN_PREFIX + 8], demoted  # both joins happened with the prefix held once
    demoted.clear()
    copied = run(False)
    assert not demoted
    assert once == copied
    assert [len(answer) for answer in once] == lengths


def test_only_sdpa_on_a_cpu_holds_the_prefix_once(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _tiny_llama()
    assert cascade.usable(model)
    monkeypatch.setattr(cascade, "ENABLED", False)
    assert not cascade.usable(model)
    monkeypatch.setattr(cascade, "ENABLED", True)
    model.config._attn_implementation = "eager"
    assert not cascade.usable(model)
    model.config._attn_implementation = "sdpa"
    model.config.attn_logit_softcapping = 50.0
    assert not cascade.usable(model)


def test_outside_a_block_attention_is_transformers_own() -> None:
    """Installed for the process, the routing changes nothing for a cache without a prefix or no block."""
    model = _tiny_llama()
    ids = torch.randint(3, 96, (2, 11))
    with torch.inference_mode():
        before = model(input_ids=ids).logits
        cache = kvcache.new_cache(model)
        with cascade.attending(cache):
            inside = model(input_ids=ids, cache=cache, use_cache=True).logits
        after = model(input_ids=ids).logits
    assert torch.equal(before, inside) and torch.equal(before, after)


def test_a_compiled_decoder_still_compiles_as_one_graph() -> None:
    """train.compile compiles the decoder after decoding may have routed SDPA through here."""
    model = _tiny_llama()
    with cascade.attending(kvcache.new_cache(model)):
        pass  # routes transformers' SDPA function through cascade for the process
    compiled = torch.compile(model.model, dynamic=True, fullgraph=True)
    ids = torch.randint(3, 96, (2, 11))
    with torch.no_grad():
        got = compiled(input_ids=ids, use_cache=False).last_hidden_state
        want = model.model(input_ids=ids, use_cache=False).last_hidden_state
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
