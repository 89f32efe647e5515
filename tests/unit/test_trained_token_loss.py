"""The cheap loss equals the standard causal-LM loss, value and gradients."""

from __future__ import annotations

import torch

from tunesmith.models.loss import trained_token_loss


def tiny_llama():  # type: ignore[no-untyped-def]
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    return LlamaForCausalLM(config)


def test_matches_standard_loss_and_gradients() -> None:
    model = tiny_llama()
    ids = torch.randint(0, 97, (3, 12))
    labels = ids.clone()
    labels[:, :5] = -100
    labels[1, 9:] = -100
    mask = torch.ones_like(ids)
    reference = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    reference.backward()
    ref_grad = model.model.layers[0].mlp.up_proj.weight.grad.clone()
    model.zero_grad()

    hidden = model.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state
    total, count = trained_token_loss(hidden, labels, model.get_output_embeddings())
    (total / count).backward()
    assert count == int((labels[:, 1:] != -100).sum())
    assert torch.allclose(total / count, reference, atol=1e-5)
    assert torch.allclose(model.model.layers[0].mlp.up_proj.weight.grad, ref_grad, atol=1e-5)


def test_chunked_path_matches(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import tunesmith.models.loss as loss_module

    model = tiny_llama()
    ids = torch.randint(0, 97, (2, 20))
    labels = ids.clone()
    hidden = model.get_decoder()(input_ids=ids).last_hidden_state
    whole, n = trained_token_loss(hidden, labels, model.get_output_embeddings())
    monkeypatch.setattr(loss_module, "LOGIT_CHUNK", 7)
    chunked, m = trained_token_loss(hidden, labels, model.get_output_embeddings())
    assert n == m and torch.allclose(whole, chunked, atol=1e-4)
