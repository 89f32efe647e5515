"""The HTML report: one self-contained page (inline SVG, no scripts, no CDN) that opens anywhere."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from tunesmith.core.atomic import atomic_write_text
from tunesmith.core.jsonl import read_jsonl
from tunesmith.core.rundir import RunDir
from tunesmith.core.stats import format_interval

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;color:#1d2430;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #dde;padding-bottom:.3rem}
table{border-collapse:collapse;margin:.6rem 0;width:100%}th,td{border:1px solid #dde;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f6fa}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.pass{color:#0a7d32;font-weight:600}.fail{color:#b3261e;font-weight:600}.muted{color:#667}
.best{font-weight:700}.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #dde;border-radius:8px;padding:.8rem 1rem;min-width:180px}
.card b{font-size:1.4rem;display:block}pre{white-space:pre-wrap;margin:0;font:13px/1.4 ui-monospace,monospace}
details{margin:.4rem 0}summary{cursor:pointer}
"""

_COLORS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"]


def _e(value: Any) -> str:
    return html.escape(str(value))


def _fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def interval_chart(metric: str, rows: list[tuple[str, dict[str, float]]], *, width: int = 560) -> str:
    """Horizontal bars (means) with whiskers (confidence intervals), one row per system."""
    if not rows:
        return ""
    lo = min(0.0, min(r["low"] for _, r in rows))
    hi = max(r["high"] for _, r in rows)
    hi = hi if hi > lo else lo + 1
    label_w, row_h, pad = 130, 26, 10
    plot_w = width - label_w - 60
    height = row_h * len(rows) + 2 * pad + 14

    def x(v: float) -> float:
        return label_w + (v - lo) / (hi - lo) * plot_w

    parts = [
        f'<svg role="img" aria-label="{_e(metric)} by system with confidence intervals" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (name, r) in enumerate(rows):
        y = pad + i * row_h
        color = _COLORS[i % len(_COLORS)]
        parts.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" font-size="12">{_e(name)}</text>')
        parts.append(
            f'<rect x="{x(lo):.1f}" y="{y + 4}" width="{max(x(r["mean"]) - x(lo), 1):.1f}" height="16" '
            f'fill="{color}" opacity="0.75"/>'
        )
        parts.append(
            f'<line x1="{x(r["low"]):.1f}" x2="{x(r["high"]):.1f}" y1="{y + 12}" y2="{y + 12}" '
            f'stroke="#222" stroke-width="1.5"/>'
        )
        for v in (r["low"], r["high"]):
            parts.append(f'<line x1="{x(v):.1f}" x2="{x(v):.1f}" y1="{y + 7}" y2="{y + 17}" stroke="#222"/>')
        parts.append(f'<text x="{x(r["high"]) + 6:.1f}" y="{y + 16}" font-size="11">{r["mean"]:.3f}</text>')
    axis_y = pad + len(rows) * row_h + 4
    parts.append(f'<line x1="{label_w}" x2="{label_w + plot_w}" y1="{axis_y}" y2="{axis_y}" stroke="#999"/>')
    for v in (lo, (lo + hi) / 2, hi):
        parts.append(f'<text x="{x(v):.1f}" y="{axis_y + 12}" font-size="10" text-anchor="middle">{v:.2f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def loss_chart(points: list[dict[str, Any]], *, width: int = 560, height: int = 220) -> str:
    """Training and validation loss over steps."""
    return curves_chart(points, [("train loss", "loss"), ("validation loss", "eval_loss")], width=width, height=height)


def reward_charts(points: list[dict[str, Any]]) -> str:
    """A policy-optimization run's curves: the total reward and each reward's mean, and the KL to the reference."""
    names = sorted({k.split("/")[1] for p in points for k in p if k.startswith("rewards/") and k.endswith("/mean")})
    if not names:
        return ""
    rewards = curves_chart(
        points,
        [("total reward", "reward")] + [(name, f"rewards/{name}/mean") for name in names],
        label="reward curves",
    )
    kl = curves_chart(points, [("KL to the reference", "kl")], label="KL curve")
    return f"<h3>Rewards</h3>{rewards}<h3>KL to the reference model</h3>{kl}"


def curves_chart(
    points: list[dict[str, Any]],
    series_keys: list[tuple[str, str]],
    *,
    width: int = 560,
    height: int = 220,
    label: str = "loss curve",
) -> str:
    """Lines over training steps, one per (name, metrics key) present in the history."""
    series = [
        (name, [(p["step"], p[key]) for p in points if key in p and "step" in p], _COLORS[i % len(_COLORS)])
        for i, (name, key) in enumerate(series_keys)
    ]
    allpts = [pt for _, pts, _ in series for pt in pts]
    if not allpts:
        return f'<p class="muted">No {_e(label.replace(" curves", "").replace(" curve", ""))} history.</p>'
    x0, x1 = min(s for s, _ in allpts), max(s for s, _ in allpts)
    y0, y1 = min(v for _, v in allpts), max(v for _, v in allpts)
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = y1 if y1 > y0 else y0 + 1
    left, bottom, top, right = 46, 26, 10, 110

    def px(s: float) -> float:
        return left + (s - x0) / (x1 - x0) * (width - left - right)

    def py(v: float) -> float:
        return top + (1 - (v - y0) / (y1 - y0)) * (height - top - bottom)

    parts = [
        f'<svg role="img" aria-label="{_e(label)}" width="{width}" height="{height}" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{height - bottom}" y2="{height - bottom}" stroke="#999"/>'
    )
    parts.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}" stroke="#999"/>')
    for v in (y0, (y0 + y1) / 2, y1):
        parts.append(f'<text x="{left - 4}" y="{py(v) + 4:.1f}" font-size="10" text-anchor="end">{v:.2f}</text>')
    for s in (x0, (x0 + x1) / 2, x1):
        parts.append(f'<text x="{px(s):.1f}" y="{height - 8}" font-size="10" text-anchor="middle">{s:.0f}</text>')
    for i, (name, pts, color) in enumerate(series):
        if not pts:
            continue
        if len(pts) == 1:
            parts.append(f'<circle cx="{px(pts[0][0]):.1f}" cy="{py(pts[0][1]):.1f}" r="3" fill="{color}"/>')
        else:
            path = " ".join(f"{px(s):.1f},{py(v):.1f}" for s, v in pts)
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        parts.append(
            f'<text x="{width - right + 8}" y="{top + 14 + 16 * i}" font-size="11" fill="{color}">{_e(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def histogram_chart(values: list[int], *, label: str, width: int = 560, height: int = 180, bins: int = 20) -> str:
    """A histogram of integer values (e.g. example lengths in tokens)."""
    if not values:
        return ""
    low, high = min(values), max(values)
    step = max(1, -(-(high - low + 1) // bins))
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, (v - low) // step)] += 1
    peak = max(counts) or 1
    left, bottom, top = 40, 24, 8
    bar_w = (width - left - 10) / bins
    parts = [
        f'<svg role="img" aria-label="{_e(label)}" width="{width}" height="{height}" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, count in enumerate(counts):
        h = (height - top - bottom) * count / peak
        x = left + i * bar_w
        parts.append(
            f'<rect x="{x:.1f}" y="{height - bottom - h:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}" '
            f'fill="{_COLORS[0]}"><title>{low + i * step}-{low + (i + 1) * step - 1}: {count}</title></rect>'
        )
    parts.append(f'<text x="{left}" y="{height - 6}" font-size="10">{low}</text>')
    parts.append(f'<text x="{width - 10}" y="{height - 6}" font-size="10" text-anchor="end">{high} {_e(label)}</text>')
    parts.append(f'<text x="{left - 4}" y="{top + 10}" font-size="10" text-anchor="end">{peak}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_report(data: dict[str, Any]) -> str:
    """``data`` keys: title, use_case, eval (summary.json), comparisons, loss, lengths, leaderboard, gate, examples."""
    ev = data.get("eval") or {}
    out = [
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(data.get('title', 'tunesmith'))}"
        f"</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(data.get('title', 'tunesmith report'))}</h1>",
    ]
    if data.get("use_case"):
        out.append(f"<p class=muted>{_e(data['use_case'])}</p>")
    out += _cards(ev, data.get("gate"))
    out += _grid(ev)
    out += _human(data.get("human"), ev)
    out += _pairwise(ev.get("pairwise"))
    out += _probe(ev.get("probe"))
    out += _comparisons(data.get("comparisons", []), ev)
    out += _by_source(ev.get("by_source"), ev.get("primary", ""))
    out += _retrieval(ev.get("retrieval"))
    if data.get("loss"):
        out.append("<h2>Training</h2>" + loss_chart(data["loss"]) + reward_charts(data["loss"]))
    if data.get("lengths"):
        out.append(
            "<h2>Training data</h2><p class=muted>Example lengths in tokens under the model's chat template "
            f"({len(data['lengths'])} training examples).</p>" + histogram_chart(data["lengths"], label="tokens")
        )
    out += _leaderboard(data.get("leaderboard") or [])
    out += _gate(data.get("gate"))
    out += _examples(data.get("examples") or [], ev.get("primary", ""))
    out.append("<p class=muted>Generated by tunesmith.</p></body></html>")
    return "".join(out)


def _cards(ev: dict[str, Any], gate: dict[str, Any] | None) -> list[str]:
    """The headline: fine-tuned vs baseline, the gate's verdict, the test size."""
    cards = []
    head = ev.get("finetuned_vs_baseline")
    if head:
        d = head["diff"]
        verdict = "a real difference" if head["real"] else "not resolved at this sample size"
        cards.append(
            f"<div class=card>fine-tuned vs baseline ({_e(ev.get('primary', ''))})<b>{d['mean']:+.3f}</b>"
            f"95% CI [{d['low']:+.3f}, {d['high']:+.3f}] — {verdict}</div>"
        )
    if gate:
        cls = "pass" if gate["passed"] else "fail"
        cards.append(
            f"<div class=card>release gate<b class={cls}>{'PASS' if gate['passed'] else 'FAIL'}</b>"
            f"{sum(c['passed'] for c in gate['checks'])}/{len(gate['checks'])} checks</div>"
        )
    if ev:
        cards.append(
            f"<div class=card>test examples<b>{ev.get('test_examples')}</b>best: {_e(ev.get('best_system'))}</div>"
        )
    return [f"<div class=cards>{''.join(cards)}</div>"]


def _grid(ev: dict[str, Any]) -> list[str]:
    """Every system on every metric with its interval (best per metric in bold), a chart per metric, lengths."""
    systems = ev.get("systems", {})
    if not systems:
        return []
    primary = ev.get("primary", "")
    metrics = list(next(iter(systems.values())).keys())
    info = ev.get("metric_info", {})
    out = ["<h2>Comparison</h2><table><tr><th>system</th>"]
    out += [f"<th>{_e(m)}{' (primary)' if m == primary else ''}</th>" for m in metrics]
    out.append("<th>prompt tokens</th><th>output tokens</th><th>stopped</th></tr>")

    def rank(system: str, metric: str) -> float:
        mean = systems[system][metric]["mean"]
        if mean != mean:  # nan: not applicable
            return float("-inf")
        return mean if info.get(metric, {}).get("higher_is_better", True) else -mean

    best = {m: max(systems, key=lambda s, m=m: rank(s, m)) for m in metrics}
    tokens = ev.get("tokens", {})
    for system, ms in systems.items():
        out.append(f"<tr><td>{_e(system)}</td>")
        for m in metrics:
            i = ms[m]
            if i["mean"] != i["mean"]:
                out.append("<td class=num><span class=muted>n/a</span></td>")
                continue
            cls = "num best" if best[m] == system else "num"
            out.append(
                f"<td class='{cls}'>{i['mean']:.3f} <span class=muted>[{i['low']:.3f}, {i['high']:.3f}]</span></td>"
            )
        t = tokens.get(system, {})
        out.append(
            f"<td class=num>{_fmt(t.get('prompt_tokens'), 0)}</td><td class=num>"
            f"{_fmt(t.get('completion_tokens'), 0)}</td><td class=num>{_fmt(t.get('stopped'), 2)}</td></tr>"
        )
    out.append("</table><p class=muted>Means with 95% bootstrap confidence intervals on the held-out test split.</p>")
    for m in metrics:
        direction = "higher is better" if info.get(m, {}).get("higher_is_better", True) else "lower is better"
        out.append(
            f"<h3>{_e(m)} <span class=muted>({_e(info.get(m, {}).get('description', ''))}; {direction})</span></h3>"
        )
        out.append(
            interval_chart(m, [(s, systems[s][m]) for s in systems if systems[s][m]["mean"] == systems[s][m]["mean"]])
        )
    lengths = ev.get("output_lengths") or {}
    if lengths:
        out.append("<h2>Output lengths</h2><div class=cards>")
        for system, values in lengths.items():
            chart = histogram_chart(values, label="tokens", width=280, height=120, bins=12)
            out.append(f"<div><b>{_e(system)}</b>{chart}</div>")
        out.append("</div>")
    return out


def _pairwise(pairwise: dict[str, Any] | None) -> list[str]:
    if not pairwise:
        return []
    out = [
        f"<h2>Judge: pairwise against {_e(pairwise['against'])}</h2><p class=muted>Each pair judged twice with "
        "positions swapped; a win counts only when both orders agree, otherwise 0.5.</p><table>"
        "<tr><th>system</th><th>win rate [95% CI]</th></tr>"
    ]
    for system, w in pairwise["win_rate"].items():
        out.append(
            f"<tr><td>{_e(system)}</td><td class=num>{w['mean']:.3f} [{w['low']:.3f}, {w['high']:.3f}]</td></tr>"
        )
    out.append("</table>")
    return out


def _probe(probe: dict[str, Any] | None) -> list[str]:
    if not probe:
        return []
    out = [
        f"<h2>General skills (forgetting check)</h2><p class=muted>{probe['items']} questions shipped with "
        "tunesmith, asked without a system prompt.</p><table><tr><th>model</th><th>accuracy [95% CI]</th></tr>"
    ]
    for system, a in probe["accuracy"].items():
        out.append(
            f"<tr><td>{_e(system)}</td><td class=num>{a['mean']:.3f} [{a['low']:.3f}, {a['high']:.3f}]</td></tr>"
        )
    out.append("</table>")
    change = probe.get("finetuned_vs_base")
    if change:
        d = change["diff"]
        out.append(
            f"<p>fine-tuned minus base: {d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"
            f"{' (a real drop)' if change['real'] and d['mean'] < 0 else ''}</p>"
        )
    agreement = probe.get("agreement")
    if agreement:
        out.append(
            f"<p>Agreement with the base model's own answers to {probe.get('agreement_items')} held-out general "
            f"prompts (label-free; 1 = answers as before): {format_interval(agreement)}</p>"
        )
    skills = probe.get("by_skill") or {}
    if skills:
        systems = sorted({s for v in skills.values() for s in v})
        out.append("<table><tr><th>skill</th>" + "".join(f"<th>{_e(s)}</th>" for s in systems) + "</tr>")
        for skill, values in sorted(skills.items()):
            out.append(
                f"<tr><td>{_e(skill)}</td>"
                + "".join(f"<td class=num>{_fmt(values.get(s))}</td>" for s in systems)
                + "</tr>"
            )
        out.append("</table>")
    return out


def _human(human: dict[str, Any] | None, ev: dict[str, Any]) -> list[str]:
    """People's labels beside the automatic metrics: pass rate and 1-5 score per system, preference win rates."""
    if not human:
        return []
    primary = ev.get("primary", "")
    systems = ev.get("systems") or {}
    who = ", ".join(human["labellers"])
    out = [
        f"<h2>Human labels</h2><p class=muted>{human['labels']} labels by {_e(who)}; intervals over the labelled "
        "examples (several people's labels of one output are averaged first).</p>",
        f"<table><tr><th>system</th><th>human pass rate [95% CI]</th><th>human score 1-5 [95% CI]</th>"
        f"<th>labelled</th><th>{_e(primary)} [95% CI]</th></tr>",
    ]
    for system, row in human["systems"].items():
        counted = max((row[k]["n"] for k in ("pass_rate", "score") if row.get(k)), default=0)
        out.append(
            f"<tr><td>{_e(system)}</td><td class=num>{format_interval(row.get('pass_rate'), missing='–')}</td>"
            f"<td class=num>{format_interval(row.get('score'), missing='–', digits=2)}</td>"
            f"<td class=num>{counted}</td>"
            f"<td class=num>{format_interval((systems.get(system) or {}).get(primary), missing='–')}</td></tr>"
        )
    out.append("</table>")
    if human.get("pairwise"):
        out.append(
            "<table><tr><th>system</th><th>vs</th><th>human preference win rate [95% CI]</th><th>pairs</th></tr>"
        )
        for p in human["pairwise"]:
            out.append(
                f"<tr><td>{_e(p['system'])}</td><td>{_e(p['other'])}</td>"
                f"<td class=num>{format_interval(p['win_rate'])}</td><td class=num>{p['win_rate']['n']}</td></tr>"
            )
        out.append("</table><p class=muted>A tie counts half a win.</p>")
    return out


def _comparisons(comparisons: list[dict[str, Any]], ev: dict[str, Any]) -> list[str]:
    """The primary metric's paired differences in a table; every other metric's in a folded one."""
    if not comparisons:
        return []
    primary = ev.get("primary", "")
    out = [f"<h2>Paired differences on {_e(primary)}</h2>"]
    out += _comparison_table([c for c in comparisons if c["metric"] == primary])
    others = [c for c in comparisons if c["metric"] != primary]
    if others:
        out.append("<details><summary>Every other metric</summary>")
        out += _comparison_table(others, with_metric=True)
        out.append("</details>")
    out.append(
        "<p class=muted>Paired test: McNemar's exact test for pass/fail metrics, Wilcoxon's signed-rank test for "
        "graded ones; Holm's correction runs across every comparison of the grid.</p>"
    )
    return out


def _comparison_table(comparisons: list[dict[str, Any]], *, with_metric: bool = False) -> list[str]:
    head = "<th>metric</th>" if with_metric else ""
    out = [
        f"<table><tr>{head}<th>system</th><th>vs</th><th>difference [95% CI]</th><th>bootstrap p</th>"
        "<th>paired test</th><th>Holm-adjusted p</th><th>verdict</th></tr>"
    ]
    for c in comparisons:
        d = c["diff"]
        if c["real"]:
            verdict = "real"
        elif c.get("n_needed"):
            verdict = f"unresolved (about {c['n_needed']} examples would resolve it)"
        else:
            verdict = "unresolved"
        metric = f"<td>{_e(c['metric'])}</td>" if with_metric else ""
        out.append(
            f"<tr>{metric}<td>{_e(c['system'])}</td><td>{_e(c['other'])}</td><td class=num>{d['mean']:+.4f} "
            f"[{d['low']:+.4f}, {d['high']:+.4f}]</td><td class=num>{c['p_value']:.3f}</td>"
            f"<td>{_e(c.get('test', ''))} p={c.get('test_p', float('nan')):.3g}</td>"
            f"<td class=num>{c.get('holm_p', float('nan')):.3g}{' significant' if c.get('significant') else ''}</td>"
            f"<td>{_e(verdict)}</td></tr>"
        )
    out.append("</table>")
    return out


def _by_source(groups: dict[str, Any] | None, primary: str) -> list[str]:
    if not groups:
        return []
    pairs = sorted({k for g in groups.values() for k in g["comparisons"]})
    out = [
        f"<h2>By source of the test examples ({_e(primary)})</h2><table><tr><th>source</th><th>examples</th>"
        + "".join(f"<th>{_e(p)} [95% CI]</th>" for p in pairs)
        + "</tr>"
    ]
    for name, g in groups.items():
        cells = "".join(
            f"<td class=num>{format_interval(g['comparisons'][p], signed=True)}</td>"
            if p in g["comparisons"]
            else "<td></td>"
            for p in pairs
        )
        out.append(f"<tr><td>{_e(name)}</td><td class=num>{g['examples']}</td>{cells}</tr>")
    out.append("</table>")
    return out


def _retrieval(retrieval: dict[str, Any] | None) -> list[str]:
    if not retrieval:
        return []
    threshold = retrieval.get("relevance_threshold")
    gate = (
        f"relevance threshold {threshold:.3f} (calibrated on validation)"
        if threshold is not None
        else "no relevance threshold"
    )
    return [
        f"<p class=muted>Retrieval: used for {retrieval['used']} test inputs, skipped for {retrieval['skipped']} "
        f"whose best retrieved sentence fell below the {_e(gate)}.</p>"
    ]


def _leaderboard(leaderboard: list[dict[str, Any]]) -> list[str]:
    if not leaderboard:
        return []
    out = [
        "<h2>Baseline prompt experiments</h2><table><tr><th>model</th><th>template</th><th>score [95% CI]</th>"
        "<th>prompt tokens</th><th>output tokens</th><th>latency s</th><th>cost / 1k req</th></tr>"
    ]
    for e in leaderboard:
        s = e["score"]
        out.append(
            f"<tr><td>{_e(e['model'])}</td><td>{_e(e['template'])}</td><td class=num>{s['mean']:.3f} "
            f"[{s['low']:.3f}, {s['high']:.3f}]</td><td class=num>{e['prompt_tokens']:.0f}</td>"
            f"<td class=num>{e['output_tokens']:.0f}</td><td class=num>{e['seconds_per_request']:.2f}</td>"
            f"<td class=num>{e['cost_per_1k_requests']:.4f}</td></tr>"
        )
    out.append("</table>")
    return out


def _gate(gate: dict[str, Any] | None) -> list[str]:
    if not gate:
        return []
    out = ["<h2>Release gate</h2><table><tr><th>check</th><th>rule</th><th>result</th><th>measured</th></tr>"]
    for c in gate["checks"]:
        cls = "pass" if c["passed"] else "fail"
        evidence = f" <small>({_e(c['evidence'])} in the gate run)</small>" if c.get("evidence") else ""
        out.append(
            f"<tr><td>{_e(c['name'])}</td><td>{_e(c.get('rule', ''))}</td>"
            f"<td class={cls}>{'pass' if c['passed'] else 'fail'}</td><td>{_e(c['reason'])}{evidence}</td></tr>"
        )
    out.append("</table>")
    if gate.get("registered"):
        reg = gate["registered"]
        then = "promote it with <code>tunesmith promote</code>" if gate["passed"] else "it cannot be promoted"
        out.append(f"<p>Registered as <b>{_e(reg['model'])}</b> version {_e(reg['version'])}; {then}.</p>")
    return out


def _examples(examples: list[dict[str, Any]], primary: str) -> list[str]:
    if not examples:
        return []
    out = [
        f"<h2>Examples, worst regressions first</h2><p class=muted>Sorted by fine-tuned minus baseline "
        f"{_e(primary)}; each row shows every system's answer to the same input.</p>"
    ]
    for ex in examples:
        out.append(
            f"<details{' open' if ex is examples[0] else ''}><summary>{_e(ex['id'])} — Δ {ex['delta']:+.3f}"
            f"</summary><table><tr><th>input</th><td><pre>{_e(ex['input'])}</pre></td></tr>"
            f"<tr><th>golden output</th><td><pre>{_e(ex['reference'])}</pre></td></tr>"
        )
        for system, o in ex["outputs"].items():
            out.append(
                f"<tr><th>{_e(system)}<br><span class=muted>{_e(primary)} {o['score']:.3f}</span></th>"
                f"<td><pre>{_e(o['output'])}</pre></td></tr>"
            )
        out.append("</table></details>")
    return out


def side_by_side(
    rows: list[dict[str, Any]], primary: str, *, system: str = "finetuned", other: str = "baseline", limit: int = 40
) -> list[dict[str, Any]]:
    """Per-example outputs of all systems, sorted by ``system - other`` on the primary metric (worst first)."""
    by_id: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = by_id.setdefault(
            r["id"], {"id": r["id"], "input": r["input"], "reference": r["reference"], "outputs": {}}
        )
        entry["outputs"][r["system"]] = {"output": r["output"], "score": r["scores"].get(primary, 0.0)}
    examples = list(by_id.values())
    for ex in examples:
        outs = ex["outputs"]
        a = outs.get(system) or next(iter(outs.values()))
        b = outs.get(other) or next(iter(outs.values()))
        ex["delta"] = a["score"] - b["score"]
    examples.sort(key=lambda e: e["delta"])
    return examples[:limit]


def write_report(
    target: RunDir,
    *,
    title: str,
    use_case: str,
    eval_run: RunDir | None = None,
    train_run: RunDir | None = None,
    data_run: RunDir | None = None,
    baseline_run: RunDir | None = None,
    gate_run: RunDir | None = None,
    human: dict[str, Any] | None = None,
) -> Path | None:
    """report.html in ``target`` from whichever runs are given (None when there is nothing to show);
    ``human``: people's labels of the evaluation's outputs (`eval.labels.human_summary`)."""
    data: dict[str, Any] = {"title": title, "use_case": use_case}
    if human:
        data["human"] = human
    if eval_run is not None:
        data["eval"] = eval_run.read_json("summary.json")
        data["comparisons"] = eval_run.read_json("comparisons.json")
        data["examples"] = side_by_side(read_jsonl(eval_run.path("outputs.jsonl")), data["eval"]["primary"])
    if train_run is not None:
        data["loss"] = train_run.metrics()
    if data_run is not None and data_run.path("train.jsonl").is_file():
        data["lengths"] = [
            r["meta"]["tokens"] for r in read_jsonl(data_run.path("train.jsonl")) if "tokens" in r.get("meta", {})
        ]
    if baseline_run is not None:
        data["leaderboard"] = baseline_run.read_json("baseline.json")["leaderboard"]
    if gate_run is not None:
        data["gate"] = gate_run.read_json("gate.json")
    if len(data) <= 2:
        return None
    path = target.path("report.html")
    atomic_write_text(path, render_report(data))
    return path
