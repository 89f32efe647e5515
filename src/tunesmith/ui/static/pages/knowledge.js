// Knowledge base: documents and their chunks, and ranked hybrid search with sources.
import { api, h, field, select, table, fmt, errorBox, announce, fill } from "../lib.js";

export async function render(main) {
  const data = await api("/ui/api/knowledge");
  const results = h("div", { id: "kb-results", "aria-live": "polite" });
  const query = h("input", { type: "search", name: "q", placeholder: "e.g. how long do refunds take" });
  const mode = select([["hybrid", "hybrid (dense + keyword)"], ["dense", "dense only"], ["keyword", "keyword only"]], "hybrid");
  const k = h("input", { type: "number", min: 1, max: 50, value: 5 });
  const form = h("form", { role: "search", "aria-label": "Search the knowledge base" },
    h("div", { class: "inline" }, field("Search", query), field("Mode", mode), field("Results", k), h("button", { type: "submit" }, "Search")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!query.value.trim()) return;
    fill(results, h("p", { class: "muted" }, "Searching… (the first search loads the embedder)"));
    try {
      const found = await api(`/ui/api/knowledge/search?q=${encodeURIComponent(query.value)}&k=${k.value}&mode=${mode.value}`);
      fill(results, 
        h("h2", {}, `${found.hits.length} results for “${found.query}”`),
        h("ol", { class: "hits" }, found.hits.map((hit) =>
          h("li", { class: "panel" },
            h("p", {}, h("strong", {}, hit.source), hit.heading ? ` › ${hit.heading}` : ""),
            h("p", { class: "muted" }, `score ${fmt(hit.score)} · dense rank ${hit.dense_rank ?? "–"} · keyword rank ${hit.keyword_rank ?? "–"}${hit.rerank_score != null ? ` · rerank ${fmt(hit.rerank_score)}` : ""} · characters ${hit.start}–${hit.end}`),
            h("pre", {}, hit.text)))),
      );
      announce(`${found.hits.length} results`);
    } catch (error) {
      fill(results, errorBox(error));
    }
  });
  const chunks = h("div", { id: "kb-chunks" });
  const showChunks = async (file) => {
    fill(chunks, h("p", { class: "muted" }, "Loading…"));
    const d = await api(`/ui/api/knowledge/chunks?file=${encodeURIComponent(file)}`);
    fill(chunks, h("h3", { tabindex: "-1" }, `${d.chunks.length} chunks of ${d.file}`),
      ...d.chunks.map((c) => h("details", { class: "panel" }, h("summary", {}, c.heading || "(no heading)", h("span", { class: "muted" }, ` · ${c.text.length} characters`)), h("pre", {}, c.text))));
    chunks.querySelector("h3").focus();
  };
  fill(main, 
    h("h1", {}, "Knowledge base"),
    h("p", { class: "muted" }, `Index '${data.name}' at ${data.location}; sources ${data.paths.join(", ") || "(none)"}.`),
    data.indexed ? null : h("div", { class: "error", role: "status" }, "Not indexed yet: start a job of kind “Index knowledge base” on the Jobs page (or run `tunesmith kb ingest`)."),
    form,
    results,
    h("h2", {}, `${data.documents.length} documents, ${data.chunks} chunks`),
    h("div", { class: "cols" },
      table(["document", "chunks", "sha256"], data.documents.map((d) => [h("button", { class: "secondary", type: "button", onclick: () => showChunks(d.file) }, d.file), d.chunks, h("code", {}, d.sha256)]), { caption: "Indexed documents", numeric: ["chunks"] }),
      chunks),
  );
}
