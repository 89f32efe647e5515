// A job form rendered from the field list the server derives from the config schema.
// Every control starts at the project's current value; only the fields a user changes are sent.
import { h } from "./lib.js";

function control(f) {
  const id = `cfg-${f.path.replace(/[^a-zA-Z0-9]/g, "-")}`;
  const describe = f.help ? `${id}-help` : null;
  const common = { id, name: f.path, "aria-describedby": describe };
  let el;
  let read;
  if (f.kind === "boolean") {
    el = h("input", { ...common, type: "checkbox", checked: !!f.value });
    read = () => el.checked;
  } else if (f.kind === "choice") {
    const options = f.nullable ? [null, ...f.choices] : f.choices;
    el = h("select", common, options.map((c) => h("option", { value: c === null ? "" : c, selected: c === f.value || (c === null && f.value == null) }, c === null ? "(not set)" : c)));
    read = () => (el.value === "" && f.nullable ? null : el.value);
  } else if (f.kind === "integer" || f.kind === "number") {
    const b = f.bounds || {};
    el = h("input", {
      ...common, type: "number", step: f.kind === "integer" ? "1" : "any",
      min: b.minimum ?? b.exclusiveMinimum, max: b.maximum ?? b.exclusiveMaximum,
      value: f.value ?? "", placeholder: f.nullable ? "not set" : null,
    });
    read = () => (el.value === "" ? null : Number(el.value));
  } else if (f.kind === "number_or_choice") {
    el = h("input", { ...common, type: "text", inputmode: "decimal", value: f.value ?? "", placeholder: f.choices.join(" or ") + " or a number" });
    read = () => {
      const v = el.value.trim();
      if (v === "") return null;
      if (f.choices.includes(v)) return v;
      const n = Number(v);
      return Number.isNaN(n) ? v : n;
    };
  } else if (f.kind === "string") {
    el = h("input", { ...common, type: "text", value: f.value ?? "", placeholder: f.nullable ? "not set" : null });
    read = () => (el.value === "" && f.nullable ? null : el.value);
  } else {
    el = h("textarea", { ...common, rows: 3, spellcheck: "false" });
    el.value = JSON.stringify(f.value, null, 1);
    read = () => {
      try {
        return JSON.parse(el.value);
      } catch {
        throw new Error(`${f.path}: not valid JSON`);
      }
    };
  }
  return { el, read, id, describe };
}

export function configForm(fields) {
  const readers = [];
  const render = (f) => {
    if (f.kind === "group") {
      return h("fieldset", {}, h("legend", {}, f.label), f.help ? h("p", { class: "help muted" }, f.help) : null, f.fields.map(render));
    }
    const { el, read, id, describe } = control(f);
    const wrap = h("div", { class: "field" });
    const initial = JSON.stringify(f.value ?? null);
    const mark = () => {
      let changed = false;
      try {
        changed = JSON.stringify(read() ?? null) !== initial;
      } catch {
        changed = true;
      }
      wrap.classList.toggle("changed", changed);
    };
    el.addEventListener("input", mark);
    el.addEventListener("change", mark);
    readers.push({ path: f.path, read, initial });
    const label = h("label", { for: id }, f.label, h("span", { class: "visually-hidden" }, ` (${f.path})`));
    if (f.kind === "boolean") {
      wrap.append(h("div", { class: "checkbox" }, el, label));
    } else {
      wrap.append(label, el);
    }
    if (f.help) wrap.append(h("div", { class: "help", id: describe }, f.help));
    return wrap;
  };
  const node = h("div", {}, fields.map(render));
  // the values that differ from the project's (the server turns them into --set overrides)
  const changed = () => {
    const out = {};
    for (const r of readers) {
      const value = r.read();
      if (JSON.stringify(value ?? null) !== r.initial) out[r.path] = value;
    }
    return out;
  };
  const set = (path, value) => {
    const input = node.querySelector(`[name="${CSS.escape(path)}"]`);
    if (!input) throw new Error(`no field ${path}`);
    if (input.type === "checkbox") input.checked = !!value;
    else input.value = typeof value === "object" ? JSON.stringify(value) : String(value);
    input.dispatchEvent(new Event("input"));
  };
  return { node, changed, set };
}
