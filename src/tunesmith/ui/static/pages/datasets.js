// Datasets: upload and validate, browse examples with search and filters, rejected rows with reasons,
// token lengths, and the loss-mask preview (which tokens are trained).
import { api, h, field, select, table, badge, when, errorBox, announce, fill } from "../lib.js";
import { histogramChart } from "../charts.js";

export async function render(main, params) {
  if (params.id) return renderOne(main, params.id);
  const data = await api("/ui/api/datasets");
  const report = h("div", { id: "upload-report", "aria-live": "polite" });
  const file = h("input", { type: "file", name: "file", accept: ".jsonl,.json,.csv,.tsv,.parquet" });
  const form = h("form", { "aria-label": "Upload examples" },
    h("div", { class: "inline" }, field("Examples file (JSONL chat, prompt/completion, Alpaca, ShareGPT, CSV, Parquet)", file), h("button", { type: "submit" }, "Upload and validate")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!file.files.length) {
      fill(report, errorBox("Choose a file first."));
      return;
    }
    const body = new FormData();
    body.append("file", file.files[0]);
    fill(report, h("p", { class: "muted" }, "Validating…"));
    try {
      const r = await api("/ui/api/datasets/upload", { method: "POST", form: body });
      fill(report, 
        h("div", { class: "panel" },
          h("p", {}, `${r.rows} rows read: ${r.examples.train} train, ${r.examples.val} validation, ${r.examples.test} test; ${r.problems.length} rejected.`),
          r.problems.length ? h("div", {}, h("h3", {}, "Problems (rows kept out, with their line numbers)"), h("ul", { class: "problems" }, r.problems.map((p) => h("li", {}, p)))) : h("p", { class: "ok" }, "Every row is valid."),
          h("p", {}, h("a", { href: `#/datasets/${r.run}` }, `Open dataset ${r.run}`))),
      );
      announce(`Uploaded: ${r.problems.length} problems`);
    } catch (error) {
      fill(report, errorBox(error));
    }
  });
  fill(main, 
    h("h1", {}, "Datasets"),
    h("section", { "aria-labelledby": "up-h" }, h("h2", { id: "up-h" }, "Upload examples"), form, report),
    h("section", { "aria-labelledby": "list-h" }, h("h2", { id: "list-h" }, "Data runs"),
      data.datasets.length
        ? table(["dataset", "status", "source", "train", "val", "test", "created"],
            data.datasets.map((d) => [h("a", { href: `#/datasets/${d.id}` }, d.id), badge(d.status), d.source, d.examples.train ?? 0, d.examples.val ?? 0, d.examples.test ?? 0, when(d.created)]),
            { caption: "Data runs", numeric: ["train", "val", "test"] })
        : h("p", { class: "muted" }, "No dataset yet: upload a file above, or start a “Build dataset” job.")),
  );
}

async function renderOne(main, id) {
  const d = await api(`/ui/api/datasets/${encodeURIComponent(id)}`);
  const m = d.manifest || {};
  const counts = m.examples || {};
  const q = h("input", { type: "search", name: "q", placeholder: "words in any message, or an id" });
  const split = select([["", "all splits"], "train", "val", "test"], "");
  const label = select([["", "all labels"], ...Object.keys(d.labels)], "");
  const source = select([["", "all sources"], ...Object.keys(d.sources)], "");
  const list = h("div", { id: "examples", "aria-live": "polite" });
  let offset = 0;
  let latest = 0;
  // the list of the filters applied last wins, however the requests for earlier ones return
  const load = async () => {
    const ticket = ++latest;
    const params = new URLSearchParams({ q: q.value, split: split.value, label: label.value, source: source.value, offset, limit: 10 });
    for (const [k, v] of [...params]) if (v === "") params.delete(k);
    const r = await api(`/ui/api/datasets/${encodeURIComponent(id)}/examples?${params}`);
    if (ticket !== latest) return;
    const filtered = [q.value && `“${q.value}”`, split.value, label.value, source.value].filter(Boolean).join(", ");
    fill(list, 
      h("p", { role: "status" }, `${r.total} examples match${filtered ? ` ${filtered}` : ""}; showing ${r.total ? offset + 1 : 0}–${offset + r.rows.length}.`),
      ...r.rows.map((row) => example(id, row)),
      h("div", { class: "toolbar" },
        h("button", { type: "button", class: "secondary", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - 10); load(); } }, "Previous"),
        h("button", { type: "button", class: "secondary", disabled: offset + r.rows.length >= r.total, onclick: () => { offset += 10; load(); } }, "Next")),
    );
  };
  const filters = h("form", { role: "search", "aria-label": "Filter examples" },
    h("div", { class: "inline" }, field("Search", q), field("Split", split), field("Label", label), field("Source file", source), h("button", { type: "submit" }, "Filter")));
  filters.addEventListener("submit", (e) => { e.preventDefault(); offset = 0; load(); });
  for (const s of [split, label, source]) s.addEventListener("change", () => { offset = 0; load(); });

  const reasons = Object.keys(d.reject_reasons);
  const reasonSelect = select([["", "all reasons"], ...reasons.map((r) => [r, `${r} (${d.reject_reasons[r]})`])], "");
  const rejects = h("div", { id: "rejects" });
  const loadRejects = async () => {
    const r = await api(`/ui/api/datasets/${encodeURIComponent(id)}/rejects?limit=100${reasonSelect.value ? `&reason=${encodeURIComponent(reasonSelect.value)}` : ""}`);
    fill(rejects, 
      r.total
        ? table(["where", "stage", "reason", "detail", "example"], r.rows.map((x) => [h("code", {}, x.where || x.id || ""), x.stage || "", x.reason, x.detail || "", x.text ? h("details", {}, h("summary", {}, "text"), h("pre", {}, x.text)) : ""]), { caption: "Rejected or changed rows" })
        : h("p", { class: "ok" }, "No rows were rejected or changed."),
    );
  };
  reasonSelect.addEventListener("change", loadRejects);

  fill(main, 
    h("h1", {}, `Dataset ${id}`),
    h("p", {}, badge(d.run.status), " ", `${counts.train ?? 0} train · ${counts.val ?? 0} validation · ${counts.test ?? 0} test`,
      m.rows_in != null ? ` · ${m.rows_in} rows in` : "", m.version ? ` · version ${m.version}` : "",
      m.accounted ? " · every row accounted for" : ""),
    h("section", { "aria-labelledby": "len-h" }, h("h2", { id: "len-h" }, "Token lengths"),
      d.histogram.length
        ? histogramChart(d.histogram, { title: "Token length histogram", marker: { value: d.max_length, label: `max_length ${d.max_length}` } })
        : h("p", { class: "muted" }, "No token counts in this dataset.")),
    h("section", { "aria-labelledby": "ex-h" }, h("h2", { id: "ex-h" }, "Examples"), filters, list),
    h("section", { "aria-labelledby": "rej-h" }, h("h2", { id: "rej-h" }, `Rejected and changed rows (${Object.values(d.reject_reasons).reduce((a, b) => a + b, 0)}; ${d.problems} validation problems)`),
      reasons.length ? field("Reason", reasonSelect) : null, rejects),
  );
  await Promise.all([load(), loadRejects()]);
}

function example(runId, row) {
  const mask = h("div", { "aria-live": "polite" });
  const showMask = async (button) => {
    button.disabled = true;
    try {
      const r = await api(`/ui/api/datasets/${encodeURIComponent(runId)}/mask?id=${encodeURIComponent(row.id)}`);
      fill(mask, 
        h("p", {}, h("span", { class: "legend-swatch", "aria-hidden": "true" }), ` trained tokens: ${r.trained} of ${r.total} (the loss is computed on these only)`),
        h("div", { class: "mask", role: "document", "aria-label": `Loss mask of ${row.id}` },
          r.tokens.map((t) => h("span", { class: t.trained ? "t trained" : "t" }, t.text))),
      );
    } catch (error) {
      fill(mask, errorBox(error));
    }
    button.disabled = false;
  };
  const button = h("button", { type: "button", class: "secondary" }, "Show loss mask");
  button.addEventListener("click", () => showMask(button));
  return h("details", { class: "panel example" },
    h("summary", {}, h("strong", {}, row.id), ` · ${row.split}`, row.label ? ` · ${row.label}` : "", row.tokens ? ` · ${row.tokens} tokens` : "", row.where ? ` · ${row.where}` : ""),
    row.messages.map((msg) => h("div", { class: "message" }, h("div", { class: "role" }, msg.role), h("div", { style: "white-space:pre-wrap" }, typeof msg.content === "string" ? msg.content : JSON.stringify(msg.content)))),
    row.points.length ? h("p", { class: "muted" }, "Knowledge points: ", row.points.map((p) => `${p.source}${p.heading ? ` › ${p.heading}` : ""}`).join("; ")) : null,
    button, mask);
}
