"""GPU benchmark: tunesmith's training and generation paths against plain TRL, on random-initialized models.

Nothing is downloaded: a ~1B Llama-style model (Llama 3.2 1B's shape) and an 8B-style one (Llama 3.1
8B's shape) are built from configs with random weights in bf16, and the data are random token rows of
256 to 2048 tokens whose last 30-60% are the trained answer (labels elsewhere -100), the same rows and
settings for both sides. Sections:

- LoRA on the 8B-style model (r=16, all-linear, micro batch 4): tunesmith's trainer (train/trainer.py:
  output layer on trained tokens only; train/kernels.py: the device's kernel plan, Liger when installed,
  padding-free with flash-attn) against TRL's SFTTrainer with its defaults and a PEFT LoraConfig.
  Tokens/s (tokens that are not padding), peak GPU memory, mean loss of both.
- Full fine-tuning of the 1B-style model with tunesmith's trainer (fp32 master weights, bf16 compute):
  tokens/s and MFU (6 x parameters FLOPs per token against the GPU's dense bf16 peak).
- Generation on the 1B-style model: continuous batching (models/decode.py), 64 prompts of 256 tokens,
  128 new tokens each, greedy.

The last line printed is one JSON object with lora_speedup, lora_memory_ratio, full_mfu, loss_agreement
and generate_tokens_per_s. `--tiny` runs the same code on a tiny model on CPU (tests/e2e/test_gpu_bench.py).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
from typing import Any

SHAPES = {
    "1b": dict(
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=128256,
        tie_word_embeddings=True,
    ),
    "8b": dict(
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=128256,
        tie_word_embeddings=False,
    ),
    "tiny": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=2048,
        tie_word_embeddings=True,
    ),
}
# dense bf16 peak per GPU (spec sheets, without sparsity)
PEAK_TFLOPS = {"H200": 989.4, "H100": 989.4, "A100": 312.0, "L40S": 362.1, "A10": 125.0, "L4": 121.0}


def build(shape: str, device: str, dtype: Any) -> Any:
    import torch
    import transformers

    config = transformers.LlamaConfig(**SHAPES[shape], max_position_embeddings=4096, rope_theta=500000.0)
    torch.manual_seed(0)
    with torch.device(device):
        model = transformers.LlamaForCausalLM(config).to(dtype)
    model.config.use_cache = False
    return model


def rows(n: int, vocab: int, low: int, high: int, seed: int = 0) -> list[dict[str, list[int]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = rng.randint(low, high)
        ids = [rng.randrange(10, vocab) for _ in range(length)]
        prompt = int(length * rng.uniform(0.4, 0.7))
        out.append({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]})
    return out


def tokenizer(vocab: int) -> Any:
    """A word-level tokenizer over the model's vocabulary: the trainers need one for padding."""
    import tokenizers
    import transformers

    words = {f"t{i}": i for i in range(vocab)}
    core = tokenizers.Tokenizer(tokenizers.models.WordLevel(words, unk_token="t1"))
    return transformers.PreTrainedTokenizerFast(tokenizer_object=core, pad_token="t0", eos_token="t2", unk_token="t1")


class Timer:
    """A TrainerCallback measuring tokens/s after the warm-up steps, and the losses."""

    def __init__(self, warmup: int) -> None:
        from transformers import TrainerCallback

        timer = self

        class Callback(TrainerCallback):  # type: ignore[misc]
            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                timer.step(state)

            def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
                if logs and "loss" in logs:
                    timer.losses.append(float(logs["loss"]))

        self.callback = Callback()
        self.warmup = warmup
        self.losses: list[float] = []
        self.started: float | None = None
        self.tokens_at_start = 0
        self.tokens = 0
        self.seconds = 0.0

    def step(self, state: Any) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        now, seen = time.perf_counter(), int(state.num_input_tokens_seen or 0)
        if state.global_step == self.warmup:
            self.started, self.tokens_at_start = now, seen
        elif self.started is not None:
            self.seconds, self.tokens = now - self.started, seen - self.tokens_at_start

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def train(side: str, shape: str, data: list[dict], *, steps: int, warmup: int, device: str, full: bool) -> dict:
    """One training run: `tunesmith` (our trainer and kernel plan) or `trl` (SFTTrainer defaults)."""
    import datasets
    import peft
    import torch
    import trl

    gpu = device == "cuda"
    half = torch.bfloat16 if gpu else torch.float32
    # full fine-tuning keeps fp32 master weights and computes in bf16 (train/modeling.py)
    model = build(shape, device, torch.float32 if full else half)
    tok = tokenizer(SHAPES[shape]["vocab_size"])
    lora = (
        None
        if full
        else peft.LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    )
    common = dict(
        output_dir=f"/tmp/tunesmith-gpu-bench-{side}",
        max_steps=steps,
        per_device_train_batch_size=4,
        learning_rate=1e-4 if not full else 1e-5,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        bf16=gpu,
        max_length=None,
        seed=0,
        data_seed=0,
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0,
    )
    timer = Timer(warmup)
    reasons = {}
    if side == "trl":
        args = trl.SFTConfig(**common)
        trainer = trl.SFTTrainer(
            model=model,
            args=args,
            train_dataset=datasets.Dataset.from_list(data),
            processing_class=tok,
            peft_config=lora,
            callbacks=[timer.callback],
        )
    else:
        from tunesmith.train import kernels
        from tunesmith.train.config import TrainConfig
        from tunesmith.train.trainer import make_trainer_class

        plan = kernels.plan(TrainConfig(), device=device, half_precision=gpu)
        reasons = plan.reasons
        if model.config._attn_implementation != plan.attention:
            model.set_attn_implementation(plan.attention)
        args = trl.SFTConfig(
            **common,
            padding_free=plan.padding_free,
            use_liger_kernel=plan.liger,
            gradient_checkpointing=plan.checkpointing,
            train_sampling_strategy="random" if plan.padding_free else "group_by_length",
        )
        trainer = make_trainer_class()(
            model=model,
            args=args,
            train_dataset=datasets.Dataset.from_list(data),
            processing_class=tok,
            peft_config=lora,
            callbacks=[timer.callback],
        )
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    peak = torch.cuda.max_memory_allocated() if gpu else 0
    n_params = sum(p.numel() for p in trainer.model.parameters())
    result = {
        "tokens_per_s": timer.rate,
        "peak_gib": peak / 2**30,
        "mean_loss": sum(timer.losses) / len(timer.losses),
        "losses": timer.losses,
        "parameters": n_params,
        "gradient_checkpointing": bool(args.gradient_checkpointing),
        "kernels": reasons,
    }
    del trainer, model
    gc.collect()
    if gpu:
        torch.cuda.empty_cache()
    return result


def generate(shape: str, device: str, prompts: int, prompt_len: int, new_tokens: int) -> dict:
    import torch

    from tunesmith.models.decode import decode_continuous

    model = build(shape, device, torch.bfloat16 if device == "cuda" else torch.float32).eval()
    model.config.use_cache = True
    rng = random.Random(1)
    vocab = SHAPES[shape]["vocab_size"]
    asked = [[rng.randrange(10, vocab) for _ in range(prompt_len)] for _ in range(prompts)]
    decode_continuous(model, asked[:4], pad_id=0, max_new_tokens=4, eos_ids=set())  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    out = decode_continuous(model, asked, pad_id=0, max_new_tokens=new_tokens, eos_ids=set(), max_rows=prompts)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    tokens = sum(len(o) for o in out)
    del model
    gc.collect()
    return {"tokens_per_s": tokens / seconds, "tokens": tokens, "seconds": seconds}


def peak_flops(device: str) -> tuple[float, str]:
    import torch

    if device == "cuda":
        name = torch.cuda.get_device_name()
        for key, tflops in PEAK_TFLOPS.items():
            if key in name:
                return tflops * 1e12, f"{name}: {tflops} TFLOP/s dense bf16 (spec)"
    n = 8192 if device == "cuda" else 1024
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(10):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    rate = 2 * n**3 * 10 / (time.perf_counter() - started)
    return rate, f"measured matmul {rate / 1e12:.1f} TFLOP/s"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tiny", action="store_true", help="a tiny model on CPU: checks the code, measures nothing")
    args = parser.parse_args()
    import torch

    device = "cpu" if args.tiny or not torch.cuda.is_available() else "cuda"
    small, large = ("tiny", "tiny") if device == "cpu" else ("1b", "8b")
    steps, warmup = (4, 1) if args.tiny else (14, 4)
    low, high = (32, 128) if args.tiny else (256, 2048)
    vocab = SHAPES[large]["vocab_size"]
    data = rows(4 * steps, vocab, low, high)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "torch": torch.__version__,
        "tiny": device == "cpu",
    }
    ours = train("tunesmith", large, data, steps=steps, warmup=warmup, device=device, full=False)
    plain = train("trl", large, data, steps=steps, warmup=warmup, device=device, full=False)
    full = train(
        "tunesmith",
        small,
        rows(4 * steps, SHAPES[small]["vocab_size"], low, high),
        steps=steps,
        warmup=warmup,
        device=device,
        full=True,
    )
    flops, flops_source = peak_flops(device)
    gen = generate(small, device, *((8, 32, 8) if args.tiny else (64, 256, 128)))
    report.update(
        {
            "lora_model": large,
            "lora_tokens_per_s": round(ours["tokens_per_s"], 1),
            "trl_lora_tokens_per_s": round(plain["tokens_per_s"], 1),
            "lora_peak_gib": round(ours["peak_gib"], 2),
            "trl_lora_peak_gib": round(plain["peak_gib"], 2),
            "lora_kernels": ours["kernels"],
            "trl_gradient_checkpointing": plain["gradient_checkpointing"],
            "full_model": small,
            "full_tokens_per_s": round(full["tokens_per_s"], 1),
            "full_parameters": full["parameters"],
            "peak_flops_source": flops_source,
            "generate_tokens": gen["tokens"],
            "seconds": round(time.perf_counter() - started, 1),
            "lora_speedup": round(ours["tokens_per_s"] / plain["tokens_per_s"], 3) if plain["tokens_per_s"] else None,
            "lora_memory_ratio": round(ours["peak_gib"] / plain["peak_gib"], 3) if plain["peak_gib"] else None,
            "full_mfu": round(full["tokens_per_s"] * 6 * full["parameters"] / flops, 4),
            "loss_agreement": round(1 - abs(ours["mean_loss"] - plain["mean_loss"]) / plain["mean_loss"], 4),
            "generate_tokens_per_s": round(gen["tokens_per_s"], 1),
        }
    )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
