"""The loss-mask preview as an HTML page: trained tokens highlighted, lint findings listed."""

from __future__ import annotations

import html
from typing import Any

from tunesmith.data.template import LintFinding, Tokenized


def stop_ids_of(tokenizer: Any) -> list[int]:
    """The tokens generation stops on: the model's generation config's EOS ids and the tokenizer's EOS."""
    ids: set[int] = set()
    try:
        from transformers import GenerationConfig

        eos = GenerationConfig.from_pretrained(tokenizer.name_or_path).eos_token_id
        ids.update([eos] if isinstance(eos, int) else list(eos or []))
    except (OSError, ValueError):
        pass  # no generation_config.json: the tokenizer's EOS is all there is
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return sorted(ids)


def render_html(pages: list[tuple[str, Any, Tokenized, list[LintFinding]]]) -> str:
    out = [
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>loss-mask preview</title><style>"
        "body{font:14px system-ui,sans-serif;max-width:1000px;margin:2rem auto}"
        "pre{white-space:pre-wrap;font:13px/1.5 ui-monospace,monospace;border:1px solid #ddd;padding:.8rem}"
        ".t{background:#c8f7c5;outline:1px solid #7ccf78}.n{color:#888}.error{color:#b3261e}.warning{color:#8a5a00}"
        "</style></head><body><h1>Loss-mask preview</h1>"
        "<p>Highlighted tokens are trained (loss is computed on them); grey tokens are context only.</p>"
    ]
    for where, tokenizer, tokenized, findings in pages:
        out.append(f"<h2>{html.escape(where)}</h2><pre>")
        for token_id, label in zip(tokenized.input_ids, tokenized.labels, strict=True):
            piece = html.escape(tokenizer.decode([token_id]))
            out.append(f'<span class="{"t" if label != -100 else "n"}">{piece}</span>')
        out.append(f"</pre><p>{len(tokenized.input_ids)} tokens, {tokenized.trained_tokens} trained</p>")
        for f in findings:
            out.append(f'<p class="{f.severity}">{f.severity}: {html.escape(f.message)} ({f.code})</p>')
    out.append("</body></html>")
    return "".join(out)
