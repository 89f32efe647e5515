"""The weight-first linears of decoding steps: the same products, only where they pay, and put back after."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from tunesmith.models import skinny_linear  # noqa: E402
from tunesmith.models.skinny_linear import skinny_linears  # noqa: E402


@pytest.fixture(autouse=True)
def _switched_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever TUNESMITH_SKINNY_LINEAR the environment has."""
    monkeypatch.setattr(skinny_linear, "ENABLED", True)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(512, 384),  # eligible, with a bias
        torch.nn.Linear(384, 256, bias=False),  # eligible
        torch.nn.Linear(256, 16),  # too few outputs (a LoRA-A-like shape): left alone
        torch.nn.Linear(16, 256),  # too few inputs: left alone
    )


@pytest.mark.parametrize("rows", [1, 2, 7, 32, 112, 113, 300])
def test_products_match_nn_linear_for_every_row_count(rows: int) -> None:
    model = _model()
    x = torch.randn(rows, 1, 512)
    with torch.inference_mode():
        expected = model(x)
        with skinny_linears(model) as swapped:
            got = model(x)
    assert swapped == 2
    assert got.shape == expected.shape == (rows, 1, 256)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_one_row_takes_the_weight_first_product_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A single row (a server answering one request, the last answer of a batch) is a matrix-vector product,
    which the BLAS computes at a fraction of the speed of two rows weight first: it is computed as two."""
    products: list[tuple[int, ...]] = []
    mm = torch.mm

    def counting(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        products.append(tuple(b.shape))
        return mm(a, b)

    model = _model()
    x = torch.randn(1, 512)
    with torch.inference_mode():
        expected = model(x)
        with skinny_linears(model):
            monkeypatch.setattr(torch, "mm", counting)
            got = model(x)
            monkeypatch.setattr(torch, "mm", mm)
    assert products == [(512, 2), (384, 2)]  # both eligible layers, the row doubled
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_only_large_fp32_cpu_linears_change_and_the_class_comes_back() -> None:
    model = _model()
    half = torch.nn.Linear(512, 512).to(torch.bfloat16)
    model.append(half)

    class Quantized(torch.nn.Linear):  # stands for bitsandbytes' Linear4bit, a subclass of nn.Linear
        pass

    model.append(Quantized(512, 512))
    before = [type(m) for m in model]
    with skinny_linears(model) as swapped:
        inside = [type(m).__name__ for m in model]
        with skinny_linears(model) as nested:
            assert nested == 0  # the outer block holds them
        assert [type(m).__name__ for m in model] == inside
    assert swapped == 2
    assert inside[:2] == ["SkinnyLinear", "SkinnyLinear"]
    assert inside[2:] == ["Linear", "Linear", "Linear", "Quantized"]
    assert [type(m) for m in model] == before


def test_training_keeps_nn_linears_own_product_and_gradients() -> None:
    model = _model()
    x = torch.randn(8, 3, 512)
    expected = model(x)
    expected.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    with skinny_linears(model):
        got = model(x)  # grad mode on: the usual path, bit for bit
        got.sum().backward()
    assert torch.equal(got, expected)
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads, strict=True))


def test_a_decoding_step_of_a_llama_model_gives_the_same_logits() -> None:
    transformers = pytest.importorskip("transformers")
    from tunesmith.models import kvcache

    config = transformers.LlamaConfig(
        vocab_size=512,
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).eval()
    ids = torch.randint(0, 512, (6, 10))

    def step() -> torch.Tensor:
        cache = kvcache.new_cache(model)
        with torch.inference_mode():
            model(input_ids=ids, past_key_values=cache, use_cache=True)
            nxt = torch.randint(0, 512, (6, 1), generator=torch.Generator().manual_seed(1))
            return model(input_ids=nxt, past_key_values=cache, use_cache=True).logits

    plain = step()
    with skinny_linears(model) as swapped:
        skinny = step()
    assert swapped == 2 * 7 + 1  # every projection of both layers and the output layer
    torch.testing.assert_close(skinny, plain, rtol=1e-5, atol=1e-5)


def test_switched_off_it_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(skinny_linear, "ENABLED", False)
    model = _model()
    with skinny_linears(model) as swapped:
        assert swapped == 0
        assert all(type(m) is torch.nn.Linear for m in model)
