"""Benchmark: the first load of a GGUF model, converting it to the cached safetensors folder.

transformers reads a GGUF file once for the config, once for the tokenizer and once for the weights,
parsing every metadata field each time; tunesmith's conversion lets it parse the file once
(`models/convert.py _parsed_once`). Both ways run in one process, each into an empty cache, in the
order given (the first pays some first-use costs, so run both orders); one JSON object compares them and
checks both folders hold the same weights and tokenizer.

    python bench/convert.py [--order transformers,once] [--gguf PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--order", default="transformers,once")
    parser.add_argument("--gguf", default=None, help="a GGUF file (default: the bundled model's)")
    args = parser.parse_args()

    import gguf
    import torch
    import transformers
    from safetensors.torch import load_file

    import tunesmith.models.convert as convert
    from tunesmith.models.resolve import bundled_gguf

    path = Path(args.gguf) if args.gguf else bundled_gguf("smollm2-135m-instruct")
    parses = {"n": 0}
    reader_class = gguf.GGUFReader

    class CountingReader(reader_class):  # type: ignore[misc,valid-type]
        def __init__(self, *a: Any, **k: Any) -> None:
            parses["n"] += 1
            super().__init__(*a, **k)

    gguf.GGUFReader = CountingReader
    once = convert._parsed_once
    result: dict[str, Any] = {"gguf": path.name, "order": args.order.split(",")}
    folders = {}
    for way in result["order"]:
        os.environ["TUNESMITH_CACHE"] = tempfile.mkdtemp(prefix=f"convert-{way}-")
        parses["n"] = 0
        convert._parsed_once = once if way == "once" else (lambda module: contextlib.nullcontext())
        start = time.perf_counter()
        folders[way] = convert.ensure_converted(path)
        result[way] = {"seconds": round(time.perf_counter() - start, 2), "parses": parses["n"]}
    convert._parsed_once = once
    a, b = (load_file(str(folders[w] / "model.safetensors")) for w in ("transformers", "once"))
    result["same_weights"] = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ta, tb = (transformers.AutoTokenizer.from_pretrained(str(folders[w])) for w in ("transformers", "once"))
    result["same_tokenizer"] = ta.get_vocab() == tb.get_vocab() and ta.chat_template == tb.chat_template
    result["speedup"] = round(result["transformers"]["seconds"] / result["once"]["seconds"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
