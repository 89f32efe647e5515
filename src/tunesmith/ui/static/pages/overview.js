// Overview: each stage's latest run and result, what to do next, recent jobs and served models.
import { api, h, badge, when, every, fill } from "../lib.js";

export async function render(main) {
  const data = await api("/ui/api/overview");
  document.getElementById("project-name").textContent = data.project.name;
  const stages = h("ol", { class: "grid", style: "list-style:none;padding:0" });
  const showStages = (d) => {
    fill(stages, 
      ...d.stages.map((s) => {
        const run = s.latest;
        return h(
          "li",
          { class: `panel stage ${run ? run.status : "none"}` },
          h("h3", {}, s.label, " ", badge(run ? run.status : "not run")),
          run ? h("p", {}, run.headline || "") : h("p", { class: "muted" }, "No run yet."),
          run ? h("p", { class: "muted" }, `${run.id} · ${when(run.created)}${s.runs > 1 ? ` · ${s.runs} runs` : ""}`) : null,
          s.latest_succeeded ? h("p", { class: "muted" }, `last succeeded: ${s.latest_succeeded.id}`) : null,
        );
      }),
    );
  };
  showStages(data);
  const jobs = h("div");
  const fillJobs = (d) =>
    fill(jobs, 
      d.jobs.length
        ? h("ul", {}, d.jobs.map((j) => h("li", {}, h("a", { href: `#/jobs/${j.id}` }, j.title), " ", badge(j.status), " ", h("span", { class: "muted" }, when(j.created_at)))))
        : h("p", { class: "muted" }, "No jobs started from the workbench yet."),
    );
  fillJobs(data);
  const next = h("p", { id: "next-step" }, data.next);
  fill(main, 
    h("h1", {}, `Overview: ${data.project.name}`),
    h("div", { class: "panel" },
      h("p", {}, data.project.use_case || h("span", { class: "muted" }, "No use case declared (use_case: in tunesmith.yaml).")),
      h("p", { class: "muted" }, `Base model ${data.project.base_model} · project folder ${data.project.dir}`),
    ),
    h("section", { "aria-labelledby": "next-h" }, h("h2", { id: "next-h" }, "What to do next"), next),
    h("section", { "aria-labelledby": "stages-h" }, h("h2", { id: "stages-h" }, "Workflow"), stages),
    h("div", { class: "cols" },
      h("section", { "aria-labelledby": "jobs-h" }, h("h2", { id: "jobs-h" }, "Recent jobs"), jobs),
      h("section", { "aria-labelledby": "models-h" }, h("h2", { id: "models-h" }, "Served models"),
        h("ul", {}, data.models.map((m) => h("li", {}, h("code", {}, m)))),
        h("p", {}, h("a", { href: "#/playground" }, "Chat with them in the playground"))),
    ),
  );
  every(3000, async () => {
    const d = await api("/ui/api/overview");
    showStages(d);
    fillJobs(d);
    next.textContent = d.next;
  });
}
