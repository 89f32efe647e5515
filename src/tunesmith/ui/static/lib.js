// Shared helpers: DOM building (text is always set as text, never parsed as HTML), API calls, formatting.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    // through the CSSOM: the Content-Security-Policy refuses inline style attributes
    else if (key === "style") el.style.cssText = String(value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === "style") el.style.cssText = String(value);
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.text || error.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

const KEY = "tunesmith.apiKey";

export function apiKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

export async function api(path, { method = "GET", body, form, signal } = {}) {
  const headers = {};
  if (apiKey()) headers.Authorization = `Bearer ${apiKey()}`;
  let payload;
  if (form) payload = form;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload, signal });
  let data = null;
  const text = await response.text();
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: { message: text } };
  }
  if (!response.ok) {
    if (response.status === 401) window.dispatchEvent(new CustomEvent("tunesmith:unauthorized"));
    throw new ApiError(response.status, data);
  }
  return data;
}

export function announce(message) {
  const region = document.getElementById("announcer");
  region.textContent = "";
  // a new node each time so screen readers read a repeated message again
  setTimeout(() => (region.textContent = message), 30);
}

export function errorBox(error) {
  return h("div", { class: "error", role: "alert" }, error instanceof Error ? error.message : String(error));
}

export function badge(status) {
  const value = status || "none";
  return h("span", { class: `badge ${value}` }, value);
}

export function fmt(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value) && Math.abs(value) >= 100) return value.toLocaleString();
  return value.toFixed(digits);
}

export function interval(value, signed = false) {
  if (!value) return "–";
  const f = (v) => (signed && v >= 0 ? "+" : "") + fmt(v);
  return `${f(value.mean)} [${f(value.low)}, ${f(value.high)}]`;
}

export function when(text) {
  if (!text) return "";
  const date = typeof text === "number" ? new Date(text * (text < 1e12 ? 1000 : 1)) : new Date(text);
  return Number.isNaN(date.getTime()) ? String(text) : date.toLocaleString();
}

export function table(columns, rows, { caption, numeric = [] } = {}) {
  return h(
    "table",
    {},
    caption ? h("caption", { class: "visually-hidden" }, caption) : null,
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: numeric.includes(c) ? "num" : null }, c)))),
    h(
      "tbody",
      {},
      rows.map((cells) =>
        h(
          "tr",
          {},
          cells.map((cell, i) => h("td", { class: numeric.includes(columns[i]) ? "num" : null }, cell)),
        ),
      ),
    ),
  );
}

export function field(labelText, control, help) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const helpEl = help ? h("div", { class: "help", id: `${id}-help` }, help) : null;
  if (helpEl) control.setAttribute("aria-describedby", helpEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, labelText), control, helpEl);
}

export function select(options, value, attrs = {}) {
  return h(
    "select",
    attrs,
    options.map((o) => {
      const [val, text] = Array.isArray(o) ? o : [o, o];
      return h("option", { value: val, selected: String(val) === String(value) }, text);
    }),
  );
}

// Polling that stops when the page is left (the router calls the cleanups).
const cleanups = [];
export function onLeave(fn) {
  cleanups.push(fn);
}
export function leavePage() {
  while (cleanups.length) {
    try {
      cleanups.pop()();
    } catch {
      /* a cleanup never blocks navigation */
    }
  }
}
export function every(ms, fn) {
  let stopped = false;
  let timer;
  const tick = async () => {
    if (stopped) return;
    let again = true;
    try {
      again = (await fn()) !== false;
    } catch {
      again = true;
    }
    if (!stopped && again) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
  };
  onLeave(stop);
  return stop;
}

// Minimal Markdown for model cards: headings, lists, tables, paragraphs, inline code and bold; text only, no HTML.
export function markdown(source) {
  const root = h("div", { class: "card-md" });
  const lines = source.split("\n");
  let i = 0;
  const inline = (text) => {
    const parts = [];
    const re = /(`[^`]+`|\*\*[^*]+\*\*)/g;
    let last = 0;
    for (const m of text.matchAll(re)) {
      parts.push(text.slice(last, m.index));
      const token = m[0];
      parts.push(token.startsWith("`") ? h("code", {}, token.slice(1, -1)) : h("strong", {}, token.slice(2, -2)));
      last = m.index + token.length;
    }
    parts.push(text.slice(last));
    return parts;
  };
  while (i < lines.length) {
    const line = lines[i];
    const heading = line.match(/^(#{1,4})\s+(.*)$/);
    if (heading) {
      root.append(h(`h${Math.min(6, heading[1].length + 1)}`, {}, inline(heading[2])));
      i++;
    } else if (line.startsWith("|")) {
      const rows = [];
      while (i < lines.length && lines[i].startsWith("|")) rows.push(lines[i++]);
      const cells = rows.filter((r) => !/^\|[\s:|-]+\|$/.test(r)).map((r) => r.slice(1, -1).split("|").map((c) => c.trim()));
      root.append(
        h(
          "table",
          {},
          h("thead", {}, h("tr", {}, cells[0].map((c) => h("th", { scope: "col" }, inline(c))))),
          h("tbody", {}, cells.slice(1).map((r) => h("tr", {}, r.map((c) => h("td", {}, inline(c)))))),
        ),
      );
    } else if (/^\s*[-*]\s+/.test(line)) {
      const items = [];
      while (i < lines.length && /^\s*[-*]\s+/.test(lines[i])) items.push(lines[i++].replace(/^\s*[-*]\s+/, ""));
      root.append(h("ul", {}, items.map((t) => h("li", {}, inline(t)))));
    } else if (line.trim()) {
      const para = [];
      while (i < lines.length && lines[i].trim() && !/^(#|\||\s*[-*]\s)/.test(lines[i])) para.push(lines[i++]);
      root.append(h("p", {}, inline(para.join(" "))));
    } else i++;
  }
  return root;
}

// replaceChildren that skips null/false and flattens arrays (conditional sections read naturally)
export function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}
