// Review: grade an evaluation's outputs by hand (pass/fail and 1–5), or prefer one of two answers, blind and from
// the keyboard. Labels go to the project's labels file; the judge check and the report read them from there.
import { api, h, field, select, table, interval, errorBox, announce, fill, onLeave } from "../lib.js";

const WHO = "tunesmith.reviewer";

export async function render(main, params) {
  if (!params.id) {
    const data = await api("/ui/api/evaluations");
    const done = data.evaluations.filter((e) => e.status === "succeeded");
    fill(main, h("h1", {}, "Review"),
      h("p", {}, "Grade evaluation outputs by hand. Your labels show in the report beside the automatic metrics and decide whether the LLM judge can be trusted (`tunesmith judge check`)."),
      done.length
        ? h("ul", {}, done.map((e) => h("li", {}, h("a", { href: `#/review/${e.id}` }, e.id), ` ${e.headline || ""}`)))
        : h("p", { class: "muted" }, "No finished evaluation yet."));
    return;
  }
  const id = params.id;
  const q = params.query;
  const who = h("input", { type: "text", name: "who", value: localStorage.getItem(WHO) || "", maxlength: "100", autocomplete: "name" });
  const mode = select([["grade", "Grade one output"], ["pairwise", "Compare two systems (blind)"]], q.get("mode") || "grade", { name: "mode" });
  const status = h("div", { id: "review-status", "aria-live": "polite" });
  const stage = h("div", { id: "review-item" });
  const summary = h("div", { id: "review-summary" });
  const controls = h("div", { class: "inline" });
  fill(main, h("h1", {}, `Review ${id}`),
    h("p", { class: "muted" }, "Keys — grading: P pass, F fail, 1–5 score, Enter save and next, S skip. Comparing: 1 or ← first is better, 2 or → second, T tie, S skip. Systems stay hidden until you have judged."),
    h("div", { class: "inline" }, field("Your name", who, "Stored with each label."), field("Mode", mode)), controls, status, stage, summary);

  let data = null;
  let index = 0;
  let draft = { passed: null, score: null };

  const load = async () => {
    if (!who.value.trim()) {
      fill(stage, h("p", { role: "status" }, "Enter your name to start."));
      return;
    }
    localStorage.setItem(WHO, who.value.trim());
    const query = new URLSearchParams({ who: who.value.trim(), mode: mode.value });
    for (const key of ["system", "a", "b"]) if (q.get(key)) query.set(key, q.get(key));
    try {
      data = await api(`/ui/api/evaluations/${encodeURIComponent(id)}/review?${query}`);
    } catch (error) {
      fill(stage, errorBox(error));
      return;
    }
    index = 0;
    draft = { passed: null, score: null };
    drawControls();
    draw();
  };

  const drawControls = () => {
    if (data.mode !== "pairwise") return fill(controls);
    const a = select(data.systems, data.pair[0], { name: "system-a" });
    const b = select(data.systems, data.pair[1], { name: "system-b" });
    const go = h("button", { type: "button", class: "secondary" }, "Compare these two");
    go.addEventListener("click", () => {
      q.set("a", a.value);
      q.set("b", b.value);
      load();
    });
    fill(controls, field("System A", a), field("System B", b), go);
  };

  const draw = () => {
    drawSummary();
    const item = data.items[index];
    const progress = `${data.labelled} of ${data.total} labelled by ${data.who}`;
    if (!item) {
      fill(stage, h("p", { role: "status", class: "ok" }, `Done: ${progress}.`));
      return;
    }
    const pair = item.shown.length === 2;
    const outputs = item.shown.map((s, i) => h("div", { class: "panel" }, h("h3", {}, pair ? `Reply ${i + 1}` : "Output"), h("pre", {}, s.output || "(empty)")));
    let buttons;
    if (pair) {
      buttons = [["left", "1: first is better"], ["right", "2: second is better"], ["tie", "T: tie"]].map(([choice, text]) => {
        const b = h("button", { type: "button" }, text);
        b.addEventListener("click", () => save({ choice }));
        return b;
      });
    } else {
      const pass = h("button", { type: "button", class: draft.passed === true ? "" : "secondary", "aria-pressed": String(draft.passed === true) }, "P: pass");
      const fail = h("button", { type: "button", class: draft.passed === false ? "" : "secondary", "aria-pressed": String(draft.passed === false) }, "F: fail");
      pass.addEventListener("click", () => setDraft({ passed: true }));
      fail.addEventListener("click", () => setDraft({ passed: false }));
      const scores = [1, 2, 3, 4, 5].map((n) => {
        const b = h("button", { type: "button", class: draft.score === n ? "" : "secondary", "aria-pressed": String(draft.score === n), "aria-label": `Score ${n}` }, String(n));
        b.addEventListener("click", () => setDraft({ score: n }));
        return b;
      });
      const next = h("button", { type: "button", disabled: draft.passed === null && draft.score === null }, "Enter: save and next");
      next.addEventListener("click", () => save(draft));
      buttons = [pass, fail, h("span", { class: "muted" }, "score"), ...scores, next];
    }
    const skip = h("button", { type: "button", class: "secondary" }, "S: skip");
    skip.addEventListener("click", advance);
    const previous = item.label ? h("p", { class: "muted" }, `You labelled this before (${item.label.preferred ?? [item.label.passed === null ? "" : item.label.passed ? "pass" : "fail", item.label.score ?? ""].join(" ")}); a new label replaces it.`) : null;
    fill(stage, h("article", { class: "panel review", "data-example": item.example, tabindex: "-1", "aria-label": `Example ${item.example}` },
      h("p", { role: "status" }, `${index + 1} of ${data.items.length} shown · ${progress}`),
      h("h2", {}, `Example ${item.example}`),
      h("details", { open: true }, h("summary", {}, "Input"), h("pre", {}, item.input)),
      item.reference ? h("details", {}, h("summary", {}, "Reference answer"), h("pre", {}, item.reference)) : null,
      h("div", { class: "cols" }, outputs),
      previous,
      h("div", { class: "inline buttons", role: "group", "aria-label": pair ? "Which reply is better" : "Grade" }, buttons, skip)));
  };

  const drawSummary = () => {
    const hs = data.human;
    const check = data.judge.check;
    fill(summary,
      h("h2", {}, "Human labels on this evaluation"),
      hs
        ? table(["system", "pass rate [95% CI]", "score 1–5 [95% CI]"], Object.entries(hs.systems).map(([s, r]) => [s, interval(r.pass_rate), interval(r.score)]), { caption: "Human pass rates" })
        : h("p", { class: "muted" }, "No labels yet."),
      hs && hs.pairwise.length
        ? table(["system", "vs", "preference win rate [95% CI]"], hs.pairwise.map((p) => [p.system, p.other, interval(p.win_rate)]), { caption: "Human preferences" })
        : null,
      h("p", { class: "muted" }, data.judge.configured
        ? check ? `Judge check ${check.run}: ${check.reason}.` : "The judge has not been checked against these labels yet: run `tunesmith judge check`."
        : "No LLM judge configured (eval.judge)."));
  };

  const setDraft = (change) => {
    draft = { ...draft, ...change };
    draw();
  };

  const advance = () => {
    index += 1;
    draft = { passed: null, score: null };
    draw();
    // the item itself takes focus (not its first button), so Enter saves instead of pressing "pass"
    const article = stage.querySelector("article");
    if (article) article.focus();
  };

  const save = async (what) => {
    const item = data.items[index];
    const body = { run: id, who: data.who, keys: item.shown.map((s) => s.key) };
    if (what.choice) body.choice = what.choice;
    else {
      if (what.passed === null && what.score === null) return;
      if (what.passed !== null) body.passed = what.passed;
      if (what.score !== null) body.score = what.score;
    }
    try {
      const label = await api("/ui/api/labels", { method: "POST", body });
      if (!item.label) data.labelled += 1;
      item.label = label;
      const revealed = label.kind === "pairwise" ? `Saved: 1 was ${label.systems[0]}, 2 was ${label.systems[1]}; you preferred ${label.preferred}.` : `Saved: that was ${label.systems[0]}.`;
      fill(status, h("p", { role: "status" }, revealed));
      announce(revealed);
      advance();
    } catch (error) {
      fill(status, errorBox(error));
    }
  };

  const onKey = (event) => {
    if (!data || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "SELECT" || target.tagName === "TEXTAREA")) return;
    const item = data.items[index];
    if (!item) return;
    const key = event.key.toLowerCase();
    const pair = item.shown.length === 2;
    let handled = true;
    if (key === "s") advance();
    else if (pair && (key === "1" || key === "arrowleft")) save({ choice: "left" });
    else if (pair && (key === "2" || key === "arrowright")) save({ choice: "right" });
    else if (pair && key === "t") save({ choice: "tie" });
    else if (!pair && key === "p") setDraft({ passed: true });
    else if (!pair && key === "f") setDraft({ passed: false });
    else if (!pair && "12345".includes(key) && key.length === 1) setDraft({ score: Number(key) });
    else if (!pair && key === "enter" && !(target && target.tagName === "BUTTON")) save(draft);
    else handled = false;
    if (handled) event.preventDefault();
  };
  document.addEventListener("keydown", onKey);
  onLeave(() => document.removeEventListener("keydown", onKey));
  who.addEventListener("change", load);
  mode.addEventListener("change", () => {
    q.set("mode", mode.value);
    load();
  });
  await load();
}
