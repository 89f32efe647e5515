"""The study's report: every trial with its settings, scores and gate verdicts; the best feasible trial against
the project's own settings; the Pareto front of a multi-objective study; and a self-contained HTML page with
the optimization history and the trade-off of each searched setting against the objectives."""

from __future__ import annotations

import html
import json
from typing import Any

import numpy as np

from tunesmith.core.deps import require
from tunesmith.core.stats import bootstrap_mean
from tunesmith.tune.study import decode_params


def paired_interval(a: list[float], b: list[float]) -> dict[str, float]:
    return bootstrap_mean(list(np.asarray(a) - np.asarray(b))).rounded()


def trial_row(t: Any, objectives: list[str]) -> dict[str, Any]:
    """One trial as the report shows it: values only for finished trials (a pruned trial's value is Optuna's
    last intermediate, minus the validation loss, not an objective), its gate verdicts when it was held to them."""
    complete = t.state.name == "COMPLETE"
    values = list(t.values) if complete and t.values is not None else None
    duration = (
        (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start else None
    )
    row: dict[str, Any] = {
        "number": t.number,
        "state": t.state.name.lower(),
        "value": None if values is None else round(values[0], 6),
        "values": None if values is None else {o: round(v, 6) for o, v in zip(objectives, values, strict=True)},
        "params": decode_params(t.params),
        "train_run": t.user_attrs.get("train_run"),
        "default": bool(t.user_attrs.get("default")),
        "seconds": None if duration is None else round(duration, 1),
        "intermediate": {str(k): round(v, 6) for k, v in t.intermediate_values.items()},
    }
    verdicts = t.user_attrs.get("constraints")
    if verdicts is not None:
        row["constraints"] = verdicts
        row["feasible"] = all(v["passed"] for v in verdicts)
        row["failed"] = [f"{v['name']}: {v['reason']}" for v in verdicts if not v["passed"]]
    if t.user_attrs.get("retention") is not None:
        row["retention"] = t.user_attrs["retention"]
    if t.state.name == "PRUNED" and t.intermediate_values:
        step = max(t.intermediate_values)
        row["pruned_at"] = {"step": step, "val_loss": round(-t.intermediate_values[step], 6)}
    return row


def report(study: Any, *, objectives: list[str], directions: list[str], storage: str) -> dict[str, Any]:
    optuna = require("optuna")
    trials = [trial_row(t, objectives) for t in study.trials]
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    by_number = {t["number"]: t for t in trials}
    feasible = [t for t in complete if by_number[t.number].get("feasible", True)]
    out: dict[str, Any] = {
        "study": study.study_name,
        "storage": storage,
        "metric": objectives[0],
        "objectives": dict(zip(objectives, directions, strict=True)),
        "trials": trials,
        "constrained": any("constraints" in t for t in trials),
    }
    sign = 1.0 if directions[0] == "maximize" else -1.0
    if feasible:
        best = max(feasible, key=lambda t: sign * t.values[0])
        out["best"] = {
            "number": best.number,
            "value": round(best.values[0], 6),
            "params": decode_params(best.params),
            "train_run": best.user_attrs.get("train_run"),
        }
        default = next((t for t in complete if t.user_attrs.get("default")), None)
        if default is not None and default.number != best.number:
            out["best_vs_default"] = {
                "default_trial": default.number,
                "default_value": round(default.values[0], 6),
                "default_feasible": by_number[default.number].get("feasible", True),
                "diff": paired_interval(best.user_attrs["scores"], default.user_attrs["scores"]),
            }
    elif complete:
        out["no_feasible"] = "no finished trial met every gate check on validation data"
    if len(directions) > 1:
        front = [t for t in study.best_trials if by_number[t.number].get("feasible", True)]
        out["pareto"] = [{"number": t.number, "values": by_number[t.number]["values"]} for t in front]
    out["infeasible"] = [{"number": t["number"], "failed": t["failed"]} for t in trials if t.get("feasible") is False]
    if len(complete) >= 2 and len(directions) == 1:
        try:
            importances = optuna.importance.get_param_importances(study)
            out["importances"] = {k: round(float(v), 4) for k, v in importances.items()}
        except (RuntimeError, ValueError) as exc:  # e.g. every trial sampled the same value
            out["importances"] = {"unavailable": str(exc)}
    out["counts"] = {state: sum(1 for t in trials if t["state"] == state) for state in {t["state"] for t in trials}}
    return out


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _scatter(points: list[tuple[float, float, bool]], *, x_label: str, y_label: str) -> str:
    """An SVG scatter of (x, y, feasible): filled dots feasible, hollow ones not."""
    width, height, pad = 420, 200, 36
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1

    def xy(x: float, y: float) -> tuple[float, float]:
        return pad + (width - 2 * pad) * (x - x0) / (x1 - x0), height - pad - (height - 2 * pad) * (y - y0) / (y1 - y0)

    dots = "".join(
        f'<circle cx="{xy(x, y)[0]:.1f}" cy="{xy(x, y)[1]:.1f}" r="4" fill="{"#2a7" if ok else "none"}" stroke="#2a7">'
        f"<title>{html.escape(x_label)} {x:g}: {html.escape(y_label)} {y:.4f}{'' if ok else ' (infeasible)'}</title></circle>"
        for x, y, ok in points
    )
    return (
        f'<svg width="{width}" height="{height}" role="img" aria-label="{html.escape(y_label)} against {html.escape(x_label)}">'
        f'<rect width="{width}" height="{height}" fill="#fafafa"/>{dots}'
        f'<text x="{width / 2}" y="{height - 6}" font-size="11" text-anchor="middle">{html.escape(x_label)}</text>'
        f'<text x="8" y="14" font-size="11">{html.escape(y_label)}</text></svg>'
    )


def tradeoffs(summary: dict[str, Any]) -> list[tuple[str, str, list[tuple[float, float, bool]]]]:
    """(setting, objective, points) for each numeric searched setting against each objective and retention."""
    done = [t for t in summary["trials"] if t.get("values")]
    out = []
    numeric = sorted({k for t in done for k, v in t["params"].items() if isinstance(v, int | float)})
    for name in numeric:
        measures: dict[str, list[tuple[float, float, bool]]] = {}
        for t in done:
            x = t["params"].get(name)
            if not isinstance(x, int | float):
                continue
            for objective, value in t["values"].items():
                measures.setdefault(objective, []).append((float(x), value, t.get("feasible", True)))
            if t.get("retention") is not None and "retention" not in t["values"]:
                measures.setdefault("retention", []).append((float(x), t["retention"], t.get("feasible", True)))
        out += [(name, measure, points) for measure, points in measures.items() if len(points) >= 2]
    return out


def report_html(summary: dict[str, Any]) -> str:
    """A self-contained page: the optimization history, the trade-offs, every trial with its gate verdicts."""
    done = [t for t in summary["trials"] if t["value"] is not None]
    width, height, pad = 560, 220, 30
    points, best_line = "", ""
    maximize = next(iter(summary.get("objectives", {summary["metric"]: "maximize"}).values())) == "maximize"
    if done:
        values = [t["value"] for t in done]
        low, high = min(values), max(values)
        span = (high - low) or 1.0
        n = max(len(summary["trials"]) - 1, 1)

        def xy(number: int, value: float) -> tuple[float, float]:
            return pad + (width - 2 * pad) * number / n, height - pad - (height - 2 * pad) * (value - low) / span

        points = "".join(
            f'<circle cx="{xy(t["number"], t["value"])[0]:.1f}" cy="{xy(t["number"], t["value"])[1]:.1f}" r="4" '
            f'fill="{"#333" if t.get("feasible", True) else "none"}" stroke="#333">'
            f"<title>trial {t['number']}: {t['value']:.4f}</title></circle>"
            for t in done
        )
        feasible = [t for t in sorted(done, key=lambda t: t["number"]) if t.get("feasible", True)]
        running, path = None, []
        for t in feasible:
            better = running is None or (t["value"] > running if maximize else t["value"] < running)
            running = t["value"] if better else running
            path.append("{:.1f},{:.1f}".format(*xy(t["number"], running)))
        best_line = f'<polyline fill="none" stroke="#2a7" points="{" ".join(path)}"/>'
    rows = "".join(
        f"<tr><td>{t['number']}</td><td>{t['state']}{' (default)' if t['default'] else ''}"
        + (
            f" at step {t['pruned_at']['step']} (val loss {t['pruned_at']['val_loss']:.3f})"
            if t.get("pruned_at")
            else ""
        )
        + "</td>"
        f"<td>{html.escape(', '.join(f'{k} {v:.4f}' for k, v in (t.get('values') or {}).items()))}</td>"
        f"<td>{'' if 'feasible' not in t else ('yes' if t['feasible'] else 'no: ' + html.escape('; '.join(t['failed'])))}</td>"
        f"<td>{html.escape(json.dumps(t['params']))}</td>"
        f"<td>{t['seconds'] or ''}</td><td>{html.escape(t['train_run'] or '')}</td></tr>"
        for t in summary["trials"]
    )
    importances = "".join(f"<li>{html.escape(k)}: {v}</li>" for k, v in (summary.get("importances") or {}).items())
    charts = "".join(
        f"<figure>{_scatter(pts, x_label=name, y_label=measure)}<figcaption>{html.escape(measure)} against "
        f"{html.escape(name)} (hollow: infeasible)</figcaption></figure>"
        for name, measure, pts in tradeoffs(summary)
    )
    best = summary.get("best")
    heading = "Best feasible" if summary.get("constrained") else "Best"
    pareto = summary.get("pareto")
    return (
        "<!doctype html><meta charset=utf-8><title>tunesmith tune</title>"
        "<style>body{font:14px sans-serif;margin:2em}td,th{padding:2px 8px;text-align:left}figure{display:inline-block}</style>"
        f"<h1>Study {html.escape(summary['study'])}: {html.escape(summary['metric'])} on the validation split</h1>"
        + (
            f"<p>{heading}: trial {best['number']}, {best['value']:.4f}, {html.escape(json.dumps(best['params']))}</p>"
            if best
            else f"<p>{html.escape(summary.get('no_feasible', 'No finished trial.'))}</p>"
        )
        + f'<svg width="{width}" height="{height}" role="img" aria-label="optimization history">'
        f'<rect width="{width}" height="{height}" fill="#fafafa"/>{best_line}{points}</svg>'
        + (f"<h2>Trade-offs</h2>{charts}" if charts else "")
        + (
            "<h2>Pareto front</h2><ul>"
            + "".join(f"<li>trial {p['number']}: {html.escape(json.dumps(p['values']))}</li>" for p in pareto)
            + "</ul>"
            if pareto
            else ""
        )
        + f"<h2>Parameter importances</h2><ul>{importances}</ul>"
        "<h2>Trials</h2><table><tr><th>#</th><th>state</th><th>values</th><th>meets the gate</th><th>params</th>"
        f"<th>s</th><th>run</th></tr>{rows}</table>"
    )
