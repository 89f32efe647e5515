// Jobs: start train / eval / tune / gate / data / kb jobs from forms generated from the config schema;
// follow one live (progress, loss curve, log) and cancel it.
import { api, h, field, select, table, badge, when, fmt, errorBox, announce, every, fill } from "../lib.js";
import { configForm } from "../forms.js";
import { lineChart } from "../charts.js";

const TERMINAL = ["succeeded", "failed", "cancelled"];

export async function render(main, params) {
  if (params.id) return renderOne(main, params.id);
  const data = await api("/ui/api/jobs");
  const kind = select(data.kinds.map((k) => [k.kind, k.title]), params.query.get("kind") || "train", { name: "kind" });
  const formArea = h("div", { id: "job-form" });
  const status = h("div", { "aria-live": "polite" });
  let current = null;
  let latest = 0;
  // the form of the kind picked last wins, however the requests for earlier picks return
  const loadForm = async () => {
    const ticket = ++latest;
    const which = kind.value;
    const f = await api(`/ui/api/forms/${which}`);
    if (ticket !== latest) return;
    const inputs = {};
    const inputFields = Object.entries(f.choices).map(([name, runs]) => {
      const preset = params.query.get(name);
      const options = [["", name === "baseline" ? "(latest, if any)" : "(latest)"], ...runs.map((r) => [r.id, `${r.id}`])];
      inputs[name] = select(options, preset || "", { name: `input-${name}` });
      return field(`${name} run`, inputs[name], `Which ${name} run the job uses.`);
    });
    const cfg = configForm(f.fields);
    current = { kind: which, inputs, cfg };
    formArea.dataset.kind = which; // which kind the fields below belong to
    fill(formArea, 
      inputFields.length ? h("fieldset", {}, h("legend", {}, "Inputs"), inputFields) : null,
      h("details", { open: true }, h("summary", {}, "Settings (from the project file; change any)"), cfg.node),
    );
    window.tunesmithJobForm = cfg; // lets a test or a power user fill fields by path
  };
  kind.addEventListener("change", loadForm);
  const form = h("form", { "aria-label": "Start a job" }, field("Kind of job", kind), formArea, h("button", { type: "submit" }, "Start job"), status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    fill(status, );
    try {
      if (!current || current.kind !== kind.value) throw new Error("The form is still loading; try again.");
      const inputs = Object.fromEntries(Object.entries(current.inputs).map(([k, el]) => [k, el.value || null]));
      const job = await api("/ui/api/jobs", { method: "POST", body: { kind: current.kind, values: current.cfg.changed(), inputs } });
      announce(`Job ${job.id} queued`);
      location.hash = `#/jobs/${job.id}`;
    } catch (error) {
      fill(status, errorBox(error));
      status.querySelector(".error").focus?.();
    }
  });
  const list = h("div", { id: "job-list" });
  const fillList = (jobs) =>
    fill(list, 
      jobs.length
        ? table(["job", "status", "progress", "started", "run"], jobs.map((j) => [h("a", { href: `#/jobs/${j.id}` }, j.title), badge(j.status), progressText(j), when(j.started_at || j.created_at), j.run || ""]), { caption: "Jobs" })
        : h("p", { class: "muted" }, "No jobs yet."),
    );
  fillList(data.jobs);
  // jobs clients created through OpenAI's fine-tuning API, trained by the same worker
  const apiJobs = h("div", { id: "api-jobs" });
  const fillApiJobs = (page) =>
    fill(apiJobs, page.data.length
      ? table(["job", "status", "model", "fine-tuned model", "created"], page.data.map((j) => [h("code", {}, j.id), badge(j.status), j.model, j.fine_tuned_model ? h("code", {}, j.fine_tuned_model) : "", when(j.created_at)]), { caption: "Fine-tuning API jobs" })
      : h("p", { class: "muted" }, "None: clients create them with the openai client's fine_tuning.jobs.create."));
  fillApiJobs(await api("/v1/fine_tuning/jobs?limit=20"));
  fill(main, h("h1", {}, "Jobs"), h("div", { class: "cols" },
    h("section", { "aria-labelledby": "new-h", class: "panel" }, h("h2", { id: "new-h" }, "Start a job"), form),
    h("section", { "aria-labelledby": "list-h" }, h("h2", { id: "list-h" }, "All jobs"), list,
      h("h2", { id: "api-h" }, "Fine-tuning API jobs"), apiJobs)));
  await loadForm();
  every(2000, async () => {
    fillList((await api("/ui/api/jobs")).jobs);
    fillApiJobs(await api("/v1/fine_tuning/jobs?limit=20"));
  });
}

function progressText(job) {
  const bar = (job.progress || []).slice(-1)[0];
  if (!bar) return TERMINAL.includes(job.status) ? "" : "starting";
  return `${bar.description}: ${bar.done}${bar.total ? `/${bar.total}` : ""}`;
}

async function renderOne(main, id) {
  const title = h("h1", {}, "Job");
  const state = h("p", { "aria-live": "polite" });
  const bars = h("div");
  const chart = h("div");
  const log = h("pre", { class: "log", tabindex: "0", "aria-label": "Job log" });
  const links = h("p");
  const cancel = h("button", { type: "button", class: "danger" }, "Cancel job");
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      await api(`/ui/api/jobs/${id}/cancel`, { method: "POST" });
      announce("Cancel requested");
    } catch (error) {
      state.after(errorBox(error));
    }
  });
  fill(main, title, state, cancel, h("h2", {}, "Progress"), bars, h("h2", {}, "Loss"), chart, h("h2", {}, "Log"), log, links);
  let lastStatus = null;
  const refresh = async () => {
    const job = await api(`/ui/api/jobs/${id}`);
    title.textContent = `${job.title}`;
    fill(state, badge(job.status), ` ${job.kind} job ${job.id}`, job.run ? ` · run ${job.run}` : "",
      job.error ? h("span", { class: "error", role: "alert" }, ` ${job.error}`) : "");
    cancel.hidden = TERMINAL.includes(job.status);
    fill(bars, 
      ...(job.progress.length ? job.progress : []).map((b) =>
        h("div", { class: "bar-row" }, h("label", {}, `${b.description}${b.info ? ` (${b.info})` : ""}: ${b.done}${b.total ? ` of ${b.total}` : ""}`),
          h("progress", { max: b.total || 1, value: b.total ? b.done : 0, "aria-label": b.description }))),
      job.progress.length ? null : h("p", { class: "muted" }, TERMINAL.includes(job.status) ? "Finished." : "Waiting for the worker…"),
    );
    const loss = job.curve.filter((p) => p.loss != null).map((p) => [p.step, p.loss]);
    const evalLoss = job.curve.filter((p) => p.eval_loss != null).map((p) => [p.step, p.eval_loss]);
    const maxSteps = job.curve.length ? job.curve[job.curve.length - 1].max_steps : null;
    fill(chart, job.kind === "train" || job.curve.length
      ? h("div", {}, lineChart([{ name: "training loss", color: "#1f5fbf", points: loss }, { name: "validation loss", color: "#a35a00", points: evalLoss }], { title: `Loss by step${maxSteps ? ` (of ${maxSteps})` : ""}`, yLabel: "loss", xMax: maxSteps }),
          h("p", { class: "muted" }, loss.length ? `step ${loss[loss.length - 1][0]}${maxSteps ? ` of ${maxSteps}` : ""}: training loss ${fmt(loss[loss.length - 1][1])}${evalLoss.length ? `, validation loss ${fmt(evalLoss[evalLoss.length - 1][1])}` : ""}` : "no steps logged yet"))
      : h("p", { class: "muted" }, "This kind of job has no loss curve."));
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
    log.textContent = job.log.join("\n");
    if (atBottom) log.scrollTop = log.scrollHeight;
    if (job.status === "succeeded") {
      const next = {
        train: [["#/playground", "Chat with the fine-tune in the playground"], [`#/jobs?kind=eval&train=${job.run}`, "Evaluate it"]],
        eval: [[`#/evaluations/${job.run}`, "Open the evaluation"], [`#/jobs?kind=gate&eval=${job.run}`, "Run the release gate on it"]],
        gate: [["#/releases", "Open the release"]],
        data: [[`#/datasets/${job.run}`, "Open the dataset"]],
        kb: [["#/knowledge", "Search the knowledge base"]],
        tune: [["#/jobs?kind=train", "Train with other settings"]],
      }[job.kind] || [];
      fill(links, ...next.flatMap(([href, text]) => [h("a", { href, class: "next-link" }, text), " "]));
      if (job.kind === "gate" && job.result) links.prepend(h("strong", {}, job.result.passed ? "GATE PASSED " : "GATE FAILED "));
    }
    if (lastStatus !== job.status) announce(`Job ${job.status}`);
    lastStatus = job.status;
    return !TERMINAL.includes(job.status);
  };
  if (await refresh()) every(1000, refresh);
}
