"""Writers back to the OpenAI formats, so cleaned data goes anywhere OpenAI's would."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tunesmith.data.formats.openai import chat_json, preference_json
from tunesmith.data.records import Example


def write_openai(examples: Iterable[Example], path: Path, *, keep_ids: bool = True) -> int:
    """Chat examples as chat JSONL, preference pairs as DPO JSONL (one kind per file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    count = 0
    with tmp.open("w", encoding="utf-8") as handle:
        for example in examples:
            record = preference_json(example) if example.kind == "preference" else chat_json(example)
            if keep_ids and example.id is not None:
                record["id"] = example.id
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    tmp.replace(path)
    return count
