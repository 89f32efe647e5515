// Evaluations: the grid with confidence intervals, outputs side by side (worst regressions first),
// and a paired comparison of any past runs.
import { api, h, field, select, table, badge, when, fmt, interval, errorBox, fill } from "../lib.js";
import { intervalChart } from "../charts.js";

const COLORS = { baseline: "#9aa3b2", base: "#b9c7e6", "base+rag": "#8fb0e8", finetuned: "#4f86d9", "finetuned+rag": "#1f5fbf" };

export async function render(main, params) {
  if (params.id) return renderOne(main, params.id);
  const data = await api("/ui/api/evaluations");
  const picked = new Set();
  const result = h("div", { id: "compare-result", "aria-live": "polite" });
  const metric = h("input", { type: "text", value: data.primary, name: "metric" });
  const compare = h("button", { type: "button" }, "Compare selected runs");
  compare.addEventListener("click", async () => {
    if (!picked.size) {
      fill(result, errorBox("Select at least one run."));
      return;
    }
    try {
      const r = await api(`/ui/api/evaluations/compare?runs=${[...picked].join(",")}&metric=${encodeURIComponent(metric.value)}`);
      fill(result, 
        h("h3", {}, `${r.metric}: paired against ${r.reference}`),
        intervalChart(r.entries.map((e) => ({ name: `${e.run.slice(-14)} ${e.system}`, mean: e.mean, low: e.low, high: e.high })), { title: `${r.metric} by run and system` }),
        table(["run", "system", "mean [95% CI]", "vs first [95% CI]", "paired test p", "Holm p", "shared examples"], r.entries.map((e) => [e.run, e.system, interval(e), e.vs_first ? interval(e.vs_first.diff, true) + (e.vs_first.real ? " (real)" : "") : "–", e.vs_first ? `${e.vs_first.test} ${fmt(e.vs_first.test_p)}` : "–", e.vs_first ? fmt(e.vs_first.holm_p) + (e.vs_first.significant ? " (significant)" : "") : "–", e.vs_first ? e.vs_first.shared_examples : "–"]), { caption: "Comparison" }),
      );
    } catch (error) {
      fill(result, errorBox(error));
    }
  });
  fill(main, 
    h("h1", {}, "Evaluations"),
    data.evaluations.length
      ? table(["", "evaluation", "status", "result", "training run", "created"], data.evaluations.map((e) => {
          const box = h("input", { type: "checkbox", "aria-label": `Select ${e.id} for comparison` });
          box.addEventListener("change", () => (box.checked ? picked.add(e.id) : picked.delete(e.id)));
          return [box, h("a", { href: `#/evaluations/${e.id}` }, e.id), badge(e.status), e.headline, e.train_run || "", when(e.created)];
        }), { caption: "Evaluation runs" })
      : h("p", { class: "muted" }, "No evaluation yet: start an “Evaluate” job."),
    h("section", { "aria-labelledby": "cmp-h" }, h("h2", { id: "cmp-h" }, "Compare runs"), h("div", { class: "inline" }, field("Metric", metric), compare), result),
  );
}

async function renderOne(main, id) {
  const d = await api(`/ui/api/evaluations/${encodeURIComponent(id)}`);
  if (!d.summary) {
    fill(main, h("h1", {}, `Evaluation ${id}`), badge(d.run.status), h("p", {}, "This run has no results (yet)."));
    return;
  }
  const s = d.summary;
  const metric = select(d.metrics, s.primary, { name: "metric" });
  const chart = h("div");
  const drawChart = () => fill(chart, 
    intervalChart(d.systems.map((sys) => ({ name: sys, color: COLORS[sys], ...s.systems[sys][metric.value] })), { title: `${metric.value} by system, with 95% confidence intervals` }));
  metric.addEventListener("change", drawChart);
  drawChart();
  const gridTable = table(["system", ...d.metrics], d.systems.map((sys) => [sys, ...d.metrics.map((m) => interval(s.systems[sys][m]))]), { caption: "All metrics, mean [95% CI]" });
  const a = select(d.systems, d.systems.includes("base") ? "base" : d.systems[0], { name: "system-a" });
  const b = select(d.systems, d.systems.includes("finetuned") ? "finetuned" : d.systems[d.systems.length - 1], { name: "system-b" });
  const rows = h("div", { id: "side-by-side", "aria-live": "polite" });
  const loadRows = async () => {
    try {
      const r = await api(`/ui/api/evaluations/${encodeURIComponent(id)}/examples?a=${encodeURIComponent(a.value)}&b=${encodeURIComponent(b.value)}&metric=${encodeURIComponent(metric.value)}&limit=50`);
      fill(rows, 
        h("p", { role: "status" }, `${r.total} examples, ordered by ${r.b} − ${r.a} on ${r.metric}: biggest regressions first.`),
        ...r.rows.map((row) => h("article", { class: "panel example-pair" },
          h("h3", {}, row.id, " ", h("span", { class: row.diff < 0 ? "diff-neg" : "diff-pos" }, `${row.diff >= 0 ? "+" : ""}${fmt(row.diff)}`)),
          h("details", {}, h("summary", {}, "Input and reference"), h("pre", {}, row.input), h("pre", {}, row.reference)),
          h("div", { class: "cols" }, [r.a, r.b].map((sys) => h("div", {},
            h("h4", {}, `${sys}: ${fmt(row[sys].score)}`),
            h("pre", {}, row[sys].output),
            h("p", { class: "meta" }, `${row[sys].completion_tokens ?? "?"} tokens · ${fmt(row[sys].latency_s, 2)} s · ${row[sys].finish_reason || ""}`),
            row[sys].citations.length ? h("p", { class: "meta" }, "cited: ", row[sys].citations.map((c) => c.source).join(", ")) : null))))),
      );
    } catch (error) {
      fill(rows, errorBox(error));
    }
  };
  for (const el of [a, b, metric]) el.addEventListener("change", loadRows);
  const vs = s.finetuned_vs_baseline;
  fill(main, 
    h("h1", {}, `Evaluation ${id}`),
    h("p", {}, badge(d.run.status), ` ${s.test_examples} test examples · primary metric ${s.primary}`, d.inputs.train_run ? ` · training run ${d.inputs.train_run}` : ""),
    vs ? h("p", {}, `Fine-tuned vs baseline on ${vs.metric}: ${interval(vs.diff, true)}${vs.real ? " — a real difference" : " — not established"}`) : null,
    s.probe && s.probe.finetuned_vs_base ? h("p", {}, `General skills (retention probe, ${s.probe.items} questions): ${interval(s.probe.finetuned_vs_base.diff, true)} vs base`) : null,
    h("section", { "aria-labelledby": "grid-h" }, h("h2", { id: "grid-h" }, "Grid"), field("Metric", metric), chart, gridTable),
    h("section", { "aria-labelledby": "sbs-h" }, h("h2", { id: "sbs-h" }, "Outputs side by side"), h("div", { class: "inline" }, field("System A", a), field("System B", b)), rows),
    h("p", {}, h("a", { href: `#/review/${id}` }, "Review these outputs by hand"), " · ", h("a", { href: `#/jobs?kind=gate&eval=${id}` }, "Run the release gate on this evaluation")),
  );
  await loadRows();
}
