"""The SFT trainer: TRL's SFTTrainer, one level down, with a cheaper loss.

TRL's loss computes vocabulary logits for every position of every sequence
(and entropy and accuracy over all of them for logging), although only the
assistant tokens are trained. For a 49k-token vocabulary that is most of the
output layer's work and memory traffic spent on prompt tokens. Here the
decoder's hidden states are gathered at the trained positions first, and the
output layer and cross-entropy run on those rows only. Measured on the example
project (2 CPU cores, fp32, LoRA r=16): see bench/train.py.

The fast path needs the plain `logits = lm_head(hidden)` structure; models with
logit soft-capping or scaling, and distributed runs (whose gradient sync
expects the wrapped model's own forward), take TRL's standard loss.
"""

from __future__ import annotations

from typing import Any

from tunesmith.core.deps import require
from tunesmith.models.loss import trained_token_loss

# padding-free batches carry positions (and, for varlen kernels, the sequence boundaries) instead of a mask
BATCH_KEYS = ("attention_mask", "position_ids", "cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k")


def trained_loss_sum(decoder: Any, head: Any, inputs: dict[str, Any]) -> tuple[Any, int]:
    """(summed cross-entropy, trained tokens) of a collated batch, padded or padding-free."""
    kwargs = {k: inputs[k] for k in BATCH_KEYS if k in inputs}
    hidden = decoder(input_ids=inputs["input_ids"], use_cache=False, **kwargs).last_hidden_state
    return trained_token_loss(hidden, inputs["labels"], head)


def make_trainer_class() -> Any:
    trl = require("trl")

    class TunesmithSFTTrainer(trl.SFTTrainer):  # type: ignore[misc]
        # train.compile (the run's kernel plan sets it): training steps run a compiled decoder
        compile_decoder = False
        _compiled: tuple[Any, Any] | None = None

        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            from transformers.trainer_pt_utils import LengthGroupedSampler

            from tunesmith.train.sampling import epoch_seeded

            sampler = super()._get_train_sampler(train_dataset)
            if isinstance(sampler, LengthGroupedSampler):
                seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
                return epoch_seeded(sampler, seed)
            return sampler

        def _step_decoder(self, decoder: Any, model: Any) -> Any:
            """The decoder this step runs: compiled for training steps when asked. Validation and generation
            stay eager: under no_grad the graph would compile a second time for a few forward passes."""
            if not (self.compile_decoder and model.training):
                return decoder
            if self._compiled is None or self._compiled[0] is not decoder:
                from tunesmith.core.progress import note

                torch = require("torch")
                self._compiled = (decoder, torch.compile(decoder, dynamic=True))
                note("  compiling the decoder's training step (train.compile): the first steps take longer")
            return self._compiled[1]

        def _fast_path(self, model: Any) -> Any | None:
            """(decoder, head) when the trained-tokens-only loss is exact for this model, else None."""
            if self.accelerator.num_processes > 1:
                return None
            unwrapped = self.accelerator.unwrap_model(model)
            base = unwrapped.get_base_model() if hasattr(unwrapped, "get_base_model") else unwrapped
            config = getattr(base, "config", None)
            if getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None):
                return None
            decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
            head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
            if decoder is None or head is None:
                return None
            return decoder, head

        def compute_loss(
            self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
        ) -> Any:
            parts = self._fast_path(model) if "labels" in inputs else None
            if parts is None:
                return super().compute_loss(
                    model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
                )
            decoder, head = parts
            loss_sum, count = trained_loss_sum(self._step_decoder(decoder, model), head, inputs)
            # Normalize like the Trainer expects: by the items of the whole accumulated batch when it
            # counted them (then it does not rescale for accumulation), else by this micro batch.
            denominator = num_items_in_batch if num_items_in_batch is not None else max(count, 1)
            loss = loss_sum / denominator
            return (loss, {"loss": loss}) if return_outputs else loss

    return TunesmithSFTTrainer
