// Releases: registered versions with their gate results and model cards; promotion only past a passed gate.
import { api, h, field, select, badge, when, errorBox, announce, markdown, fill } from "../lib.js";

export async function render(main) {
  const [data, evals] = await Promise.all([api("/ui/api/releases"), api("/ui/api/evaluations")]);
  const evalSelect = select(evals.evaluations.filter((e) => e.status === "succeeded").map((e) => [e.id, e.id]), "", { name: "eval" });
  const gateButton = h("button", { type: "button" }, "Run the release gate");
  const gateStatus = h("div", { "aria-live": "polite" });
  gateButton.addEventListener("click", async () => {
    try {
      const job = await api("/ui/api/jobs", { method: "POST", body: { kind: "gate", values: {}, inputs: { eval: evalSelect.value || null } } });
      location.hash = `#/jobs/${job.id}`;
    } catch (error) {
      fill(gateStatus, errorBox(error));
    }
  });
  const versions = data.versions.map((v) => version(v, data.model));
  fill(main, 
    h("h1", {}, `Releases: ${data.model}`),
    h("p", { class: "muted" }, data.tracking ? `Registry ${data.uri || "(none yet)"}; aliases: ${Object.entries(data.aliases).map(([a, n]) => `@${a} → ${n}`).join(", ") || "none"}.` : "Tracking is off for this project (tracking.enabled: false)."),
    h("section", { class: "panel", "aria-labelledby": "gate-h" }, h("h2", { id: "gate-h" }, "Gate an evaluation"),
      h("p", {}, "Runs the project's release tests; the version it registers can be promoted only if every check passes."),
      evals.evaluations.length ? h("div", { class: "inline" }, field("Evaluation run", evalSelect), gateButton) : h("p", { class: "muted" }, "No evaluation yet."), gateStatus),
    h("h2", {}, `${data.versions.length} registered versions`),
    versions.length ? versions : h("p", { class: "muted" }, "No version yet: a gate run registers one."),
  );
}

function version(v, model) {
  const passed = v.gate === "passed";
  const alias = h("input", { type: "text", value: "production", name: `alias-${v.version}`, pattern: "[A-Za-z0-9_-]+" });
  const status = h("div", { "aria-live": "polite" });
  const promote = h("button", { type: "button", disabled: !passed, "aria-describedby": `why-${v.version}` }, `Promote version ${v.version}`);
  promote.addEventListener("click", async () => {
    promote.disabled = true;
    try {
      const r = await api(`/ui/api/releases/${v.version}/promote`, { method: "POST", body: { alias: alias.value } });
      fill(status, h("p", { class: "ok", role: "status" }, `${r.model}@${r.alias} → version ${r.version}${r.previous ? ` (was ${r.previous})` : ""}. Clients asking for ${r.model}@${r.alias} now get it.`));
      announce(`Promoted version ${r.version} to ${r.alias}`);
    } catch (error) {
      fill(status, errorBox(error));
    }
    promote.disabled = !passed;
  });
  return h("article", { class: "panel release", "aria-labelledby": `v-${v.version}` },
    h("h3", { id: `v-${v.version}` }, `${model} version ${v.version} `, badge(v.gate), ...v.aliases.map((a) => [" ", h("span", { class: "badge passed" }, `@${a}`)])),
    h("p", { class: "muted" }, `registered ${when(v.created / 1000)} · training ${v.train_run || "?"} · evaluation ${v.eval_run || "?"} · dataset ${v.dataset_version || "?"}`),
    Object.entries(v.promotions).map(([a, text]) => h("p", { class: "muted" }, `@${a}: ${text}`)),
    v.checks.length
      ? h("ul", { class: "checks" }, v.checks.map((c) => h("li", {}, badge(c.passed ? "passed" : "failed"), ` ${c.name}: `, h("span", { class: "muted" }, c.reason || c.rule || ""))))
      : null,
    h("div", { class: "inline" }, field("Alias", alias), promote),
    h("p", { id: `why-${v.version}`, class: "muted" }, passed ? "The gate passed: this version can be promoted." : "Promotion needs a passed gate; this version's gate did not pass."),
    status,
    lineage(v),
    v.card ? h("details", {}, h("summary", {}, "Model card"), markdown(v.card)) : null,
  );
}

// source files -> dataset -> training -> evaluation -> gate -> deployment, loaded when opened
function lineage(v) {
  const body = h("div", { "aria-live": "polite" }, h("p", { class: "muted" }, "Loading…"));
  const box = h("details", { class: "lineage" }, h("summary", {}, "Lineage"), body);
  box.addEventListener("toggle", async () => {
    if (!box.open || box.dataset.loaded) return;
    try {
      const r = await api(`/ui/api/releases/${v.version}/lineage`);
      fill(body, h("ul", { class: "tree" }, r.rows.map((row) => h("li", { style: `margin-left:${row.depth * 1.1}rem` }, row.text))),
        r.missing.length ? h("p", { class: "muted" }, `run folders not on this machine: ${r.missing.join(", ")}`) : null);
      box.dataset.loaded = "1";
    } catch (error) {
      fill(body, errorBox(error));
    }
  });
  return box;
}
