"""Report training to the run folder and the terminal."""

from __future__ import annotations

import time
from typing import Any

from tunesmith.core import cpu
from tunesmith.core.rundir import RunDir


def make_reporting_callback(run_dir: RunDir, update: Any) -> Any:
    """A TrainerCallback writing every log to metrics.jsonl and driving the progress bar."""
    from transformers import TrainerCallback

    class Reporting(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.started = time.perf_counter()
            self.first_step: int | None = None
            self.tokens_at_start = 0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.first_step = state.global_step
            self.tokens_at_start = state.num_input_tokens_seen or 0
            update(state.global_step, total=state.max_steps)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            cpu.rebalance()  # another process may have started or stopped computing
            elapsed = time.perf_counter() - self.started
            tokens = (state.num_input_tokens_seen or 0) - self.tokens_at_start
            update(1, info=f"{tokens / max(elapsed, 1e-9):,.0f} tok/s")

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if not logs or not state.is_world_process_zero:
                return
            row = {"step": state.global_step, "max_steps": state.max_steps, "epoch": round(state.epoch or 0.0, 4)}
            for key, value in logs.items():
                if isinstance(value, (int, float)):
                    row[key] = value
            row["tokens_seen"] = state.num_input_tokens_seen
            run_dir.log_metrics(**row)

    return Reporting()


def make_generation_eval_callback(run_dir: RunDir, tokenizer: Any, records: list[dict[str, Any]]) -> Any:
    """At every evaluation, answer a few validation prompts and log ROUGE-L against their references.

    Validation loss says how likely the references are; this says what the model
    actually writes at that checkpoint, which is what users ask for and the
    popular trainers do not show.
    """
    from transformers import TrainerCallback

    from tunesmith.core.deps import require
    from tunesmith.models.generation import GenerationParams
    from tunesmith.models.local import LocalGenerator

    rouge = require("rouge_score.rouge_scorer", purpose="generation-based evaluation")
    scorer = rouge.RougeScorer(["rougeL"], use_stemmer=True)
    prompts = [r["messages"][:-1] for r in records]
    references = [r["messages"][-1]["content"] for r in records]
    # a sample is a signal, not the evaluation: answers are cut at 128 tokens to keep it cheap
    budget = min(max(len(tokenizer(ref)["input_ids"]) for ref in references) + 16, 128)

    class GenerationEval(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.steps_done: set[int] = set()
            # per evaluated step, whether each sampled answer ended by itself: the stop check after training
            # asks the same prompts of the kept weights and needs to decode only the answers cut here
            self.ended: dict[int, list[bool]] = {}

        def on_evaluate(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            # a final evaluation of the same weights (after the last step) is not generated twice
            if model is None or not state.is_world_process_zero or state.global_step in self.steps_done:
                return
            self.steps_done.add(state.global_step)
            was_training = model.training
            model.eval()
            generator = LocalGenerator(model, tokenizer, name="checkpoint", batch_size=len(prompts))
            adapter = next(iter(generator.adapters), None)
            outputs = generator.generate(prompts, GenerationParams(max_new_tokens=budget), adapter=adapter)
            scores = [
                scorer.score(ref, out.text)["rougeL"].fmeasure for ref, out in zip(references, outputs, strict=True)
            ]
            self.ended[state.global_step] = [o.finish_reason == "stop" for o in outputs]
            stopped = sum(self.ended[state.global_step]) / len(outputs)
            run_dir.log_metrics(
                step=state.global_step,
                eval_rouge_l=sum(scores) / len(scores),
                eval_stop_rate=stopped,
                eval_sample=outputs[0].text[:300],
            )
            if was_training:
                model.train()

    return GenerationEval()


def make_final_evaluation_callback() -> Any:
    """Evaluate and save at the last step too, so the final weights compete for "best" with the checkpoints
    (the Trainer only evaluates every ``eval_steps``)."""
    from transformers import TrainerCallback

    class FinalEvaluation(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step >= state.max_steps:
                control.should_evaluate = True
                control.should_save = True

    return FinalEvaluation()
