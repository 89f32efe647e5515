"""What fits ``train.max_length``: rows measured as their trainer tokenizes them, the ones that do not fit set
aside with their lengths, and one clear error when nothing is left to train on.

TRL's preference trainers deal with over-long rows on their own and say nothing: DPO and KTO drop a row whose
prompt alone fills ``max_length`` and cut the end off the others; the reward trainer drops a pair when either
side is longer. Measured here first, with the same chat-template calls and the same prompt boundary (where
prompt and prompt+answer first differ), those rows go to ``skipped.jsonl`` with their reason, and the run says
how many answers were cut. SFT sets its over-long examples aside itself (``sft.tokenize_records``); when every
one of them is set aside, the run stops here instead of inside the trainer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tunesmith.core.errors import DataError


@dataclass
class Fitted:
    """The rows to train on, the ones set aside (with reasons) and how many will be cut to ``max_length``."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    truncated: int = 0


def _ids(tokenizer: Any, messages: list[dict[str, Any]], tools: Any, *, prompt: bool = False) -> list[int]:
    # what TRL's `_tokenize` does for a conversational row: the chat template, tokenized, tools declared
    kwargs: dict[str, Any] = {"tools": tools}
    if prompt:
        kwargs["add_generation_prompt"] = True
    result = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **kwargs)
    return list(result["input_ids"])


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def preference_row(pair: dict[str, Any]) -> dict[str, Any]:
    """A TRL conversational preference row; tools travel as JSON text (one column type for every row)."""
    row = {"prompt": pair["prompt"], "chosen": pair["chosen"], "rejected": pair["rejected"]}
    if pair.get("tools"):
        row["tools"] = json.dumps(pair["tools"])
    return row


def fit_pairs(tokenizer: Any, pairs: list[dict[str, Any]], recipe: str, max_length: int, split: str) -> Fitted:
    """The pairs (``dpo``, ``reward``) or unpaired rows (``kto``) that ``recipe``'s TRL trainer will keep.

    ``pairs`` as ``load_pairs`` reads them (``where``: the file and line each came from).
    """
    out = Fitted()
    for pair in pairs:
        tools = pair.get("tools")
        prompt_ids = _ids(tokenizer, pair["prompt"], tools, prompt=True)
        chosen_ids = _ids(tokenizer, pair["prompt"] + pair["chosen"], tools)
        rejected_ids = _ids(tokenizer, pair["prompt"] + pair["rejected"], tools)
        where = {k: v for k, v in (("id", pair.get("id")), ("where", pair.get("where"))) if v is not None}
        where["split"] = split
        row = preference_row(pair)
        limit = f"train.max_length={max_length}"
        if recipe == "reward":
            # the reward model scores each whole conversation: a side longer than max_length drops the pair
            longest = max(len(chosen_ids), len(rejected_ids))
            if longest > max_length:
                out.skipped.append(where | {"reason": f"{longest} tokens > {limit}", "tokens": longest})
            else:
                out.rows.append(row)
            continue
        # DPO and KTO train the answer after the prompt; a prompt that fills max_length leaves none of it
        sides = [(True, pair["chosen"], chosen_ids), (False, pair["rejected"], rejected_ids)]
        starts = [min(len(prompt_ids), _common_prefix(prompt_ids, ids)) for _, _, ids in sides]
        if recipe == "kto":
            for (desirable, completion, ids), start in zip(sides, starts, strict=True):
                label = "desirable" if desirable else "undesirable"
                if start >= max_length:
                    # "tokens": what the whole row needs, the length that would train all of its answer
                    reason = f"prompt of {start} tokens fills {limit} ({label} answer)"
                    out.skipped.append(where | {"reason": reason, "tokens": len(ids)})
                    continue
                out.truncated += len(ids) > max_length
                unpaired = {"prompt": row["prompt"], "completion": completion, "label": desirable}
                if "tools" in row:
                    unpaired["tools"] = row["tools"]
                out.rows.append(unpaired)
            continue
        start, longest = min(starts), max(len(chosen_ids), len(rejected_ids))
        if start >= max_length:
            out.skipped.append(where | {"reason": f"prompt of {start} tokens fills {limit}", "tokens": longest})
            continue
        out.truncated += longest > max_length
        out.rows.append(row)
    return out


def fitting(lengths: list[int], trained: list[int], max_length: int) -> tuple[list[int], list[int], list[int]]:
    """(lengths, trained tokens) of the sequences SFT trains on, and the lengths of those it sets aside.

    What ``sft.tokenize_records`` keeps: no longer than ``max_length``, with a trained token. The dry run's
    estimate is made on these: a long example training never sees must not size its memory or steps.
    """
    kept = [(n, t) for n, t in zip(lengths, trained, strict=True) if n <= max_length and t > 0]
    aside = [n for n, t in zip(lengths, trained, strict=True) if n > max_length or t == 0]
    return [n for n, _ in kept], [t for _, t in kept], aside


def require_rows(
    rows: list[Any], total: int, skipped: list[dict[str, Any]], *, what: str, max_length: int, where: str
) -> None:
    """Raise one clear error when none of ``total`` training ``what`` is left after setting some aside
    (``skipped``: their entries, ``tokens`` where too long)."""
    if rows:
        return
    lengths = sorted(s["tokens"] for s in skipped if "tokens" in s)
    if lengths:
        fix = (
            f"Raise train.max_length to at least {lengths[0]} (the shortest; the longest needs {lengths[-1]}), "
            "e.g. --set train.max_length=N, or shorten the prompts."
        )
    else:
        fix = "Give at least one assistant turn a weight of 1 (an example with no trained turn teaches nothing)."
    why = [f"{len(lengths)} longer than train.max_length={max_length}"] if lengths else []
    if len(skipped) > len(lengths):
        why.append(f"{len(skipped) - len(lengths)} with nothing to train")
    raise DataError(f"none of the {total} training {what} can be trained on ({', '.join(why)})", where=where, fix=fix)


def check_kept(trainer: Any, train: list[dict[str, Any]], val: list[dict[str, Any]]) -> None:
    """Say so when the trainer dropped rows this module measured as fitting (a TRL that measures otherwise)."""
    from tunesmith.core.progress import note

    for name, dataset, rows in (("train", trainer.train_dataset, train), ("val", trainer.eval_dataset, val)):
        kept = len(dataset) if dataset is not None else 0
        if kept < len(rows):
            note(
                f"[yellow]the trainer dropped {len(rows) - kept} of {len(rows)} {name} rows that fit "
                f"train.max_length by tunesmith's measure[/] (a TRL version that measures otherwise)"
            )
