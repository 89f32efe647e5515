"""Self-distillation replay: the base model's own answers to general prompts, mixed into training.

A fine-tune on a narrow task drifts away from what the base model could do:
taught to decline out-of-scope requests, the demo's model began declining
"What is 7 + 5?". Mixing in examples of the base model answering general
prompts (its own answers, so nothing new is taught; in the spirit of
self-distillation fine-tuning, Yang et al. 2024, and of rehearsal in continual
learning) holds the general behaviour in place while the task is learned.

The prompts ship with tunesmith (``data/general/replay.jsonl``: arithmetic,
facts, writing, reasoning, instructions, conversation), or come from the
user's own file; none may duplicate a retention-probe prompt (checked here:
overlapping ones are dropped and listed). Answers are generated once per base
model and kept in the user's cache; an answer the base model did not finish
within ``max_new_tokens`` is left out (training on it would teach stopping
mid-sentence). The examples used are written to the run folder
(``replay.jsonl``), so a resumed or distributed run trains on the same ones.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tunesmith.core.jsonl import read_jsonl, write_jsonl
from tunesmith.core.progress import task
from tunesmith.core.rundir import RunDir
from tunesmith.data.general import check_disjoint, held_out_texts, replay_prompts
from tunesmith.models.generation import GenerationParams
from tunesmith.models.journal import answers_journal, generate_journaled
from tunesmith.models.spec import LocalModelRef
from tunesmith.train.config import ReplayConfig, TrainConfig

REPLAY_FILE = "replay.jsonl"
AUTO_RATIO = 0.25
MIN_AUTO = 16


def resolve_ratio(cfg: ReplayConfig, n_task: int) -> tuple[float, str]:
    """The replay ratio and why: ``auto`` is a quarter of the task examples (at least 16 examples)."""
    if cfg.ratio != "auto":
        return float(cfg.ratio), "set in the project"
    ratio = max(AUTO_RATIO, MIN_AUTO / max(n_task, 1))
    return ratio, (
        f"one base-model answer to a general prompt per {1 / AUTO_RATIO:g} task examples (at least {MIN_AUTO}): "
        "enough to hold general skills without diluting the task"
    )


def replay_examples(
    run_dir: RunDir,
    train: TrainConfig,
    *,
    base: LocalModelRef,
    project_dir: Path,
    train_records: list[dict[str, Any]],
    generator: Any = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """``ensure_replay`` for a training run: its ratio and seed, kept away from the requests its data declines."""
    return ensure_replay(
        run_dir,
        train.replay,
        base=base,
        project_dir=project_dir,
        n_task=len(train_records),
        seed=train.seed,
        declined=declined_requests(train_records),
        generator=generator,
    )


def ensure_replay(
    run_dir: RunDir,
    cfg: ReplayConfig | None,
    *,
    base: LocalModelRef,
    project_dir: Path,
    n_task: int,
    seed: int,
    declined: list[str] | None = None,
    generator: Any = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """(chat records to mix into training, skipped prompts with reasons, what was done), made once per run.

    ``declined``: requests the training data declines (replay prompts like them are left out);
    ``generator``: the base model already loaded for training (a second copy is loaded otherwise).
    """
    path = run_dir.path(REPLAY_FILE)
    if path.is_file():  # a resumed run, or a distributed worker: the examples the run started with
        records = read_jsonl(path)
        return records, [], {"examples": len(records), "reused": True}
    if cfg is None:
        return [], [], {"examples": 0}
    ratio, reason = resolve_ratio(cfg, n_task)
    want = round(ratio * n_task)
    if want <= 0:
        write_jsonl(path, [])
        return [], [], {"ratio": ratio, "reason": reason, "examples": 0}
    prompts = replay_prompts(project_dir / cfg.prompts if cfg.prompts else None)
    usable, skipped, n_declined = _usable_prompts(prompts, declined or [], cfg.avoid_similarity, seed)
    # a few more than wanted: answers the base model does not finish are left out
    asked = usable[: min(len(usable), round(want * 1.3) + 4)]
    if generator is None:
        from tunesmith.models.local import LocalGenerator

        generator = LocalGenerator.load(base, project_dir)
    entries = _answer(generator, asked, base, project_dir, cfg.max_new_tokens)
    records = _records(asked, entries, want, cfg.max_new_tokens, generator.name, skipped)
    write_jsonl(path, records)
    info = {
        "left_out_as_declined": n_declined,
        "ratio": ratio,
        "reason": reason,
        "examples": len(records),
        "wanted": want,
        "prompts": cfg.prompts or "tunesmith's general prompts",
        "skipped": len(skipped),
    }
    return records, skipped, info


def _usable_prompts(
    prompts: list[dict[str, Any]], declined: list[str], avoid_similarity: float, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """(prompts replay may use, in a seeded order; those it may not, with reasons; how many resembled a decline)."""
    overlapping = {o.id: o for o in check_disjoint(prompts, held_out_texts())}
    skipped = [
        {
            "id": o.id,
            "split": "replay",
            "reason": f"duplicates retention-probe prompt {o.held_out_id} (similarity {o.similarity:.2f})",
        }
        for o in overlapping.values()
    ]
    conflicting = _resembling(prompts, declined, avoid_similarity)
    skipped += [
        {"id": pid, "split": "replay", "reason": f"resembles a request the training data declines: {text[:80]!r}"}
        for pid, text in conflicting.items()
    ]
    usable = sorted(
        (p for p in prompts if p["id"] not in overlapping and p["id"] not in conflicting),
        key=lambda p: hashlib.sha256(f"{seed}:{p['id']}".encode()).hexdigest(),
    )
    return usable, skipped, len(conflicting)


def _answer(
    generator: Any, asked: list[dict[str, Any]], base: LocalModelRef, project_dir: Path, max_new_tokens: int
) -> list[dict[str, Any]]:
    """The base model's answers, journaled per base model so a second run (or project) reuses them."""
    params = GenerationParams(max_new_tokens=max_new_tokens)
    chats = [[{"role": "user", "content": p["prompt"]}] for p in asked]
    with task(f"Replay: the base model answers {len(chats)} general prompts (cached)", len(chats)) as update:
        return generate_journaled(
            generator,
            chats,
            params,
            answers_journal(base, project_dir),
            step="replay",
            batch_size=generator.batch_size,
            on_progress=update,
        )


def _records(
    asked: list[dict[str, Any]],
    entries: list[dict[str, Any]],
    want: int,
    max_new_tokens: int,
    answered_by: str,
    skipped: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Up to ``want`` chat records from finished answers; the rest go to ``skipped`` with the reason."""
    records: list[dict[str, Any]] = []
    for prompt, entry in zip(asked, entries, strict=True):
        text = entry["text"].strip()
        if entry["finish_reason"] != "stop" or not text:
            why = "empty answer" if not text else f"the base model did not finish within {max_new_tokens} tokens"
            skipped.append({"id": prompt["id"], "split": "replay", "reason": why})
        elif len(records) < want:
            records.append(
                {
                    "id": f"replay:{prompt['id']}",
                    "messages": [
                        {"role": "user", "content": prompt["prompt"]},
                        {"role": "assistant", "content": text},
                    ],
                    "meta": {"replay": True, "kind": prompt.get("kind"), "answered_by": answered_by},
                }
            )
    return records


def _resembling(prompts: list[dict[str, Any]], declined: list[str], threshold: float) -> dict[str, str]:
    """Replay prompt id -> the declined request it resembles, for those at least ``threshold`` similar."""
    if not declined:
        return {}
    from tunesmith.knowledge.config import DEFAULT_EMBEDDER
    from tunesmith.knowledge.embed import load_embedder

    embedder = load_embedder(DEFAULT_EMBEDDER)
    sims = embedder.encode([p["prompt"] for p in prompts]) @ embedder.encode(declined).T
    out = {}
    for prompt, row in zip(prompts, sims, strict=True):
        best = int(row.argmax())
        if row[best] >= threshold:
            out[str(prompt["id"])] = declined[best]
    return out


def declined_requests(records: list[dict[str, Any]]) -> list[str]:
    """The requests of training examples whose reply declines (the last user turn, without its facts)."""
    from tunesmith.data.instruction import split_user_turn
    from tunesmith.data.refusals import declines

    out = []
    for record in records:
        messages = record["messages"]
        users = [m for m in messages if m.get("role") == "user"]
        if users and messages[-1].get("role") == "assistant" and declines(str(messages[-1].get("content", ""))):
            out.append(split_user_turn(str(users[-1]["content"]))[0])
    return out
