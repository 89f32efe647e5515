// The workbench's router: hash routes (#/page/id?query) render one page into <main>; leaving a page stops its polling.
import { h, api, announce, errorBox, leavePage, setApiKey, field, fill } from "./lib.js";
import * as overview from "./pages/overview.js";
import * as datasets from "./pages/datasets.js";
import * as knowledge from "./pages/knowledge.js";
import * as playground from "./pages/playground.js";
import * as jobs from "./pages/jobs.js";
import * as evaluations from "./pages/evaluations.js";
import * as releases from "./pages/releases.js";
import * as review from "./pages/review.js";

const PAGES = { "": overview, datasets, knowledge, playground, jobs, evaluations, review, releases };
const main = document.getElementById("main");
let firstRoute = true;

function parse() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  const [page = "", ...rest] = path.split("/");
  return { page, id: rest.length ? decodeURIComponent(rest.join("/")) : null, query: new URLSearchParams(query) };
}

async function route() {
  leavePage();
  const params = parse();
  const module = PAGES[params.page];
  for (const link of document.querySelectorAll("nav a")) {
    const target = link.getAttribute("href").replace(/^#\/?/, "");
    if (target === params.page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  main.setAttribute("aria-busy", "true");
  if (!module) {
    fill(main, h("h1", {}, "Not found"), h("p", {}, "No such page. "), h("a", { href: "#/" }, "Back to the overview"));
  } else {
    try {
      await module.render(main, params);
    } catch (error) {
      fill(main, h("h1", {}, "Something went wrong"), errorBox(error));
    }
  }
  main.removeAttribute("aria-busy");
  const heading = main.querySelector("h1");
  document.title = `${heading ? heading.textContent : "tunesmith"} · tunesmith`;
  // after a navigation the new page's heading takes focus (screen readers read it); on the first load focus
  // stays at the top of the document, so the first Tab reaches the skip link
  if (heading && !firstRoute) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: false });
  }
  if (!firstRoute) announce(document.title);
  firstRoute = false;
}

// With API keys configured, the UI asks for one once per browser session.
window.addEventListener("tunesmith:unauthorized", () => {
  if (document.getElementById("key-form")) return;
  const input = h("input", { type: "password", name: "api-key", autocomplete: "off" });
  const form = h("form", { id: "key-form", class: "panel" }, h("h2", {}, "API key needed"),
    field("API key (kept for this browser session only)", input), h("button", { type: "submit" }, "Use key"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    setApiKey(input.value.trim());
    route();
  });
  main.prepend(form);
  input.focus();
});

window.addEventListener("hashchange", route);
api("/ui/api/overview").then((d) => (document.getElementById("project-name").textContent = d.project.name)).catch(() => {});
route();
