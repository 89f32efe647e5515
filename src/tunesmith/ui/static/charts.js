// SVG charts drawn here (no chart library to download): each has a text alternative for screen readers.
import { h, svg, fmt } from "./lib.js";

function scale(d0, d1, r0, r1) {
  const span = d1 - d0 || 1;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

function ticks(lo, hi, count = 5) {
  const step = (hi - lo) / count || 1;
  return Array.from({ length: count + 1 }, (_, i) => lo + i * step);
}

// Line chart: series = [{name, color, points: [[x, y], ...]}]
// xMax: the known end of the x axis (a training run's max_steps), so a live curve fills in from the left.
export function lineChart(series, { title, xLabel = "step", yLabel = "", width = 640, height = 260, xMax } = {}) {
  const all = series.flatMap((s) => s.points);
  const pad = { l: 48, r: 12, t: 14, b: 34 };
  const box = svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": title });
  if (!all.length) {
    box.append(svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, "no points yet"));
    return h("div", { class: "chart" }, box);
  }
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs, Math.min(...xs) + 1, xMax || 0)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const margin = (y1 - y0) * 0.08 || 0.1;
  y0 -= margin;
  y1 += margin;
  const X = scale(x0, x1, pad.l, width - pad.r);
  const Y = scale(y0, y1, height - pad.b, pad.t);
  for (const t of ticks(y0, y1, 4)) {
    box.append(svg("line", { class: "grid-line", x1: pad.l, x2: width - pad.r, y1: Y(t), y2: Y(t) }));
    box.append(svg("text", { x: pad.l - 6, y: Y(t) + 4, "text-anchor": "end" }, fmt(t, 2)));
  }
  const xTicks = x1 - x0 <= 10 ? Array.from({ length: x1 - x0 + 1 }, (_, i) => x0 + i) : ticks(x0, x1, 5);
  for (const t of xTicks) {
    box.append(svg("text", { x: X(t), y: height - pad.b + 16, "text-anchor": "middle" }, Math.round(t)));
  }
  box.append(svg("line", { class: "axis", x1: pad.l, x2: width - pad.r, y1: height - pad.b, y2: height - pad.b }));
  box.append(svg("line", { class: "axis", x1: pad.l, x2: pad.l, y1: pad.t, y2: height - pad.b }));
  box.append(svg("text", { x: (pad.l + width - pad.r) / 2, y: height - 4, "text-anchor": "middle" }, xLabel));
  if (yLabel) box.append(svg("text", { x: pad.l + 6, y: pad.t + 10 }, yLabel));
  series.forEach((s, i) => {
    if (!s.points.length) return;
    const d = s.points.map((p, j) => `${j ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(" ");
    box.append(svg("path", { d, fill: "none", stroke: s.color, "stroke-width": 2, "stroke-dasharray": i ? "5 3" : null }));
    if (s.points.length < 40) {
      for (const p of s.points) box.append(svg("circle", { cx: X(p[0]), cy: Y(p[1]), r: 2.5, fill: s.color }));
    }
    box.append(svg("text", { x: width - pad.r - 4, y: pad.t + 12 + i * 14, "text-anchor": "end", style: `fill:${s.color};font-weight:600` }, (i ? "- - " : "—— ") + s.name));
  });
  const last = series.map((s) => (s.points.length ? `${s.name} ${fmt(s.points[s.points.length - 1][1])} at ${xLabel} ${s.points[s.points.length - 1][0]}` : "")).filter(Boolean);
  return h("figure", { class: "chart" }, box, h("figcaption", { class: "visually-hidden" }, `${title}: ${last.join("; ")}`));
}

// Horizontal bars with confidence-interval whiskers: rows = [{name, mean, low, high}]
export function intervalChart(rows, { title, width = 640 } = {}) {
  rows = rows.filter((r) => Number.isFinite(r.mean)); // null: not applicable to that system (no bar)
  const pad = { l: 120, r: 70, t: 8, b: 24 };
  const rowH = 26;
  const height = pad.t + pad.b + rowH * rows.length;
  const lo = Math.min(0, ...rows.map((r) => r.low));
  const hi = Math.max(...rows.map((r) => r.high), lo + 1e-9);
  const X = scale(lo, hi, pad.l, width - pad.r);
  const box = svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": title });
  for (const t of ticks(lo, hi, 4)) {
    box.append(svg("line", { class: "grid-line", x1: X(t), x2: X(t), y1: pad.t, y2: height - pad.b }));
    box.append(svg("text", { x: X(t), y: height - 8, "text-anchor": "middle" }, fmt(t, 2)));
  }
  rows.forEach((r, i) => {
    const y = pad.t + i * rowH + rowH / 2;
    box.append(svg("text", { x: pad.l - 8, y: y + 4, "text-anchor": "end" }, r.name));
    box.append(svg("rect", { x: X(Math.min(0, r.mean)), y: y - 8, width: Math.abs(X(r.mean) - X(0)), height: 16, fill: r.color || "#7aa2e3" }));
    box.append(svg("line", { x1: X(r.low), x2: X(r.high), y1: y, y2: y, stroke: "#17233b", "stroke-width": 2 }));
    for (const v of [r.low, r.high]) box.append(svg("line", { x1: X(v), x2: X(v), y1: y - 6, y2: y + 6, stroke: "#17233b", "stroke-width": 2 }));
    box.append(svg("text", { x: width - pad.r + 6, y: y + 4 }, fmt(r.mean)));
  });
  const alt = rows.map((r) => `${r.name} ${fmt(r.mean)} (95% CI ${fmt(r.low)} to ${fmt(r.high)})`).join("; ");
  return h("figure", { class: "chart" }, box, h("figcaption", { class: "visually-hidden" }, `${title}: ${alt}`));
}

// Histogram: bins = [{low, high, count}]
export function histogramChart(bins, { title, width = 640, height = 200, marker } = {}) {
  const pad = { l: 40, r: 10, t: 10, b: 30 };
  const box = svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": title });
  if (!bins.length) return h("div", { class: "chart" }, box);
  const peak = Math.max(...bins.map((b) => b.count), 1);
  const barW = (width - pad.l - pad.r) / bins.length;
  const Y = scale(0, peak, height - pad.b, pad.t);
  bins.forEach((b, i) => {
    const x = pad.l + i * barW;
    box.append(svg("rect", { x: x + 1, y: Y(b.count), width: barW - 2, height: Y(0) - Y(b.count), fill: "#7aa2e3" },
      svg("title", {}, `${b.low}–${b.high} tokens: ${b.count}`)));
    if (i % Math.ceil(bins.length / 8) === 0) box.append(svg("text", { x: x + barW / 2, y: height - 14, "text-anchor": "middle" }, b.low));
  });
  box.append(svg("text", { x: pad.l - 6, y: pad.t + 8, "text-anchor": "end" }, peak));
  box.append(svg("text", { x: (width + pad.l) / 2, y: height - 1, "text-anchor": "middle" }, "tokens per example"));
  if (marker && marker.value >= bins[0].low && marker.value <= bins[bins.length - 1].high + 1) {
    const x = pad.l + ((marker.value - bins[0].low) / (bins[bins.length - 1].high + 1 - bins[0].low)) * (width - pad.l - pad.r);
    box.append(svg("line", { x1: x, x2: x, y1: pad.t, y2: height - pad.b, stroke: "#a32020", "stroke-dasharray": "4 3" }));
    box.append(svg("text", { x: x - 4, y: pad.t + 10, "text-anchor": "end", style: "fill:#a32020" }, marker.label));
  }
  const alt = bins.map((b) => `${b.low} to ${b.high}: ${b.count}`).join("; ");
  return h("figure", { class: "chart" }, box, h("figcaption", { class: "visually-hidden" }, `${title}: ${alt}`));
}
