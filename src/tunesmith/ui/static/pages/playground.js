// Playground: one prompt to several served models side by side, each with or without retrieval, through the
// same /v1/chat/completions a client uses; answers show citations, token counts and latency. Each pane keeps
// its own conversation, so follow-up questions go with the earlier turns.
import { api, h, field, select, fmt, errorBox, announce, fill } from "../lib.js";

const MAX_PANES = 4;

export async function render(main) {
  const models = (await api("/v1/models")).data.map((m) => m.id);
  const base = models[0];
  const tuned = models.filter((m) => m !== base);
  const panes = [];
  const grid = h("div", { class: "panes", id: "panes" });
  const addPane = (model, retrieval) => {
    if (panes.length >= MAX_PANES) return;
    const n = panes.length + 1;
    const modelSelect = select(models, model, { name: `model-${n}` });
    const rag = h("input", { type: "checkbox", name: `rag-${n}`, checked: retrieval });
    const transcript = h("ol", { class: "transcript", "aria-label": `Conversation ${n}`, "aria-live": "polite" });
    const meta = h("div", { class: "meta" });
    const cites = h("div");
    const heading = h("h2", {}, `Answer ${n}`);
    const pane = h("section", { class: "pane", "aria-label": `Answer ${n}` }, heading,
      field("Model", modelSelect), h("label", { class: "checkbox" }, rag, "Ground in the knowledge base (retrieval)"),
      transcript, meta, cites);
    const entry = { pane, modelSelect, rag, transcript, meta, cites, n, history: [] };
    // another model starts another conversation
    modelSelect.addEventListener("change", () => clearPane(entry));
    const remove = h("button", { type: "button", class: "secondary", "aria-label": `Remove answer ${n}` }, "Remove");
    remove.addEventListener("click", () => {
      panes.splice(panes.indexOf(entry), 1);
      pane.remove();
      addButton.disabled = panes.length >= MAX_PANES;
    });
    pane.append(remove);
    panes.push(entry);
    grid.append(pane);
    addButton.disabled = panes.length >= MAX_PANES;
  };
  const addButton = h("button", { type: "button", class: "secondary" }, "Add a model");
  const clearButton = h("button", { type: "button", class: "secondary" }, "New conversation");
  clearButton.addEventListener("click", () => {
    panes.forEach(clearPane);
    announce("Conversations cleared");
  });
  addButton.addEventListener("click", () => addPane(models[0], false));
  const prompt = h("textarea", { name: "prompt", rows: 4, placeholder: "Write a customer message…" });
  const maxTokens = h("input", { type: "number", name: "max_tokens", min: 1, max: 2048, value: 200 });
  const form = h("form", { "aria-label": "Ask the models" },
    field("Prompt (Ctrl+Enter sends)", prompt),
    h("div", { class: "inline" }, field("Max new tokens", maxTokens), h("button", { type: "submit" }, "Send to all"), addButton, clearButton));
  prompt.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) form.requestSubmit();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!prompt.value.trim()) return;
    const text = prompt.value;
    prompt.value = "";
    await Promise.all(panes.map((p) => ask(p, text, Number(maxTokens.value))));
    announce("All answers received");
  });
  // by default: the base model and the newest fine-tune (or a registry alias), both without retrieval
  addPane(base, false);
  addPane(tuned.length ? tuned[tuned.length - 1] : base, false);
  fill(main, h("h1", {}, "Playground"),
    h("p", { class: "muted" }, "Every answer is a request to this server's OpenAI-compatible API, so what you see is what a client gets."),
    form, grid);
}

function clearPane(p) {
  p.history = [];
  fill(p.transcript);
  p.meta.textContent = "";
  fill(p.cites);
}

async function ask(p, text, maxTokens) {
  p.pane.setAttribute("aria-busy", "true");
  const answer = h("div", { class: "answer" }, "…");
  p.transcript.append(h("li", { class: "message" }, h("div", { class: "role" }, "user"), text),
    h("li", { class: "message" }, h("div", { class: "role" }, "assistant"), answer));
  p.meta.textContent = "";
  fill(p.cites, );
  const started = performance.now();
  try {
    const r = await api("/v1/chat/completions", {
      method: "POST",
      body: {
        model: p.modelSelect.value,
        messages: [...p.history, { role: "user", content: text }],
        max_tokens: maxTokens,
        tunesmith: { retrieval: p.rag.checked },
      },
    });
    const seconds = (performance.now() - started) / 1000;
    answer.textContent = r.choices[0].message.content;
    p.history.push({ role: "user", content: text }, { role: "assistant", content: r.choices[0].message.content });
    const u = r.usage || {};
    p.meta.textContent = `${u.prompt_tokens} prompt tokens · ${u.completion_tokens} completion tokens · ${fmt(seconds, 2)} s · finish: ${r.choices[0].finish_reason}`;
    const citations = (r.tunesmith && r.tunesmith.citations) || [];
    if (citations.length) {
      fill(p.cites, h("h3", {}, "Citations"),
        h("ol", { class: "citations" }, citations.map((c) => h("li", {}, `${c.source}${c.heading ? ` › ${c.heading}` : ""}`, c.score != null ? h("span", { class: "muted" }, ` (score ${fmt(c.score)})`) : ""))));
    }
  } catch (error) {
    fill(answer, errorBox(error));
  }
  p.pane.removeAttribute("aria-busy");
}
