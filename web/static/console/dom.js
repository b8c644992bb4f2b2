// The console's building blocks: elements built with textContent only (no
// server text is ever parsed as HTML), words for statuses (the same as
// server/rest/render.py), forms that show the server's errors beside the
// field they name, modal dialogs, and a message area.

import { ApiError } from "../session.js";

// -- words (server/rest/render.py) --------------------------------------------

export const STATUS = {
  operational: "Operational",
  degraded_performance: "Degraded performance",
  partial_outage: "Partial outage",
  major_outage: "Major outage",
  under_maintenance: "Under maintenance",
};
export const STATUS_ICON = {
  operational: "✓",
  degraded_performance: "▲",
  partial_outage: "◆",
  major_outage: "✕",
  under_maintenance: "⚙",
};
export const INDICATOR_ICON = { none: "✓", minor: "▲", major: "◆", critical: "✕", maintenance: "⚙" };
export const PROGRESS = {
  investigating: "Investigating",
  identified: "Identified",
  monitoring: "Monitoring",
  resolved: "Resolved",
  postmortem: "Postmortem",
  scheduled: "Scheduled",
  in_progress: "In progress",
  verifying: "Verifying",
  completed: "Completed",
  cancelled: "Cancelled",
};
export const IMPACT = {
  none: "No impact",
  minor: "Minor impact",
  major: "Major impact",
  critical: "Critical impact",
};
export const ROLES = ["viewer", "responder", "admin", "owner"];
export const ROLE_WORDS = { viewer: "Viewer", responder: "Responder", admin: "Admin", owner: "Owner" };

export const rank = (role) => ROLES.indexOf(role);

// -- formats --------------------------------------------------------------------

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n) => String(n).padStart(2, "0");

// `Nov 22, 12:05 UTC`, as the public pages show a moment (with the year
// when it is not this one: `Mar 10, 2031, 10:00 UTC`).
export function when(iso) {
  if (!iso) return "";
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return String(iso);
  const year = t.getUTCFullYear() === new Date().getUTCFullYear() ? "" : ` ${t.getUTCFullYear()},`;
  return `${MONTHS[t.getUTCMonth()]} ${t.getUTCDate()},${year} ${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())} UTC`;
}

// A <time> element showing `when`.
export function time(iso) {
  return h("time", { datetime: iso || "" }, when(iso));
}

// The value of an <input type="datetime-local"> for a moment (local time).
export function localInput(iso) {
  if (!iso) return "";
  const t = typeof iso === "string" ? new Date(iso) : iso;
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())}T${pad(t.getHours())}:${pad(t.getMinutes())}`;
}

// An <input type="datetime-local"> value (local time) as RFC 3339 in UTC, or
// the text as typed when it is no moment (the server then says what is wrong).
export function fromLocalInput(value) {
  if (!value) return value;
  const t = new Date(value);
  return Number.isNaN(t.getTime()) ? value : t.toISOString();
}

export function utcOffset() {
  const minutes = -new Date().getTimezoneOffset();
  const sign = minutes < 0 ? "−" : "+";
  const abs = Math.abs(minutes);
  return `UTC${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

// "name must not be empty" -> "Name must not be empty."
export function sentence(text) {
  const s = String(text || "").trim();
  if (!s) return "Something went wrong.";
  // A word is capitalized; a name that leads (a host, an address) is not.
  const word = /^[a-z]+(?=[\s,:;]|$)/.test(s);
  const first = word ? s.charAt(0).toUpperCase() + s.slice(1) : s;
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

// What to tell a person about a failed request, in plain words (`words`:
// the error's message as the page puts it).
export function explain(error, words = error && error.message) {
  if (error instanceof ApiError) {
    let text = sentence(words);
    if (error.status === 429 && error.retryAfter) text += ` Try again in ${error.retryAfter} seconds.`;
    else if (error.status === 503) text += " Try again in a moment.";
    return text;
  }
  if (error instanceof TypeError) return "The server could not be reached. Check the connection and try again.";
  return sentence(words);
}

// -- elements ------------------------------------------------------------------

const PROPERTIES = new Set(["checked", "selected", "disabled", "hidden", "open", "multiple", "required", "readOnly"]);

// h("button", {class: "primary", onclick: f}, "Save"): an element. Text
// children become text nodes; attributes are set as attributes.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [key, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (key === "class") el.className = Array.isArray(v) ? v.filter(Boolean).join(" ") : v;
    else if (key === "text") el.textContent = v;
    else if (key === "value") value = v;
    else if (key === "dataset") Object.assign(el.dataset, v);
    else if (key.startsWith("on") && typeof v === "function") el.addEventListener(key.slice(2), v);
    else if (PROPERTIES.has(key)) el[key] = Boolean(v);
    else el.setAttribute(key, v === true ? "" : String(v));
  }
  add(el, children);
  if (value !== undefined) el.value = value;
  return el;
}

export function add(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let counter = 0;
export function uid(prefix = "c") {
  counter += 1;
  return `${String(prefix).replace(/[^a-z0-9_-]/gi, "-")}-${counter}`;
}

export function tag(text, cls) {
  return h("span", { class: ["tag", cls] }, text);
}

export function statusText(status) {
  return h("span", { class: ["state", `st-${status}`] }, h("span", { class: "icon", "aria-hidden": "true" }, STATUS_ICON[status] || ""), ` ${STATUS[status] || status}`);
}

// Re-render `container` with `build()`, keeping the focus on the element with
// the same data-key (or its data-alt-key) when the focus was inside.
export function redraw(container, build) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.key : null;
  const alt = active && active.dataset ? active.dataset.altKey : null;
  clear(container);
  add(container, [build()]);
  if (key) focusKey(container, key, alt);
}

export function focusKey(root, key, alt) {
  for (const k of [key, alt]) {
    if (!k) continue;
    const el = root.querySelector(`[data-key="${CSS.escape(k)}"]`);
    if (el && !el.disabled) {
      el.focus();
      return true;
    }
  }
  return false;
}

// Call `send(value)` when a select has settled on a value: arrow keys on a
// closed select fire "change" at every step, and each step must not become
// a request. Sent at once when the focus leaves it.
export function onSettled(select, send, ms = 700) {
  let timer = null;
  const fire = () => {
    if (timer === null) return;
    clearTimeout(timer);
    timer = null;
    send(select.value);
  };
  select.addEventListener("change", () => {
    clearTimeout(timer);
    timer = setTimeout(fire, ms);
  });
  select.addEventListener("blur", fire);
  return select;
}

// A table of rows with a caption for screen readers, or `empty` in words.
export function table(caption, headers, rows, empty, cls) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h(
    "table",
    { class: ["grid", cls] },
    h("caption", { class: "vh" }, caption),
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows),
  );
}

// A cell that says what it is on a phone, where the table is a list.
export const td = (label, ...children) => h("td", { "data-label": label }, children);

// What a box says when its list could not be loaded, with a way to try again.
export function failed(box, what, error, retry) {
  clear(box);
  add(box, [h("p", { class: "error-text", role: "alert" }, `${what} could not be loaded. ${explain(error)}`), h("button", { type: "button", onclick: retry }, "Try again")]);
}

// -- forms ----------------------------------------------------------------------

// A labelled control in a .field box that can show an error under it.
// type: text, email, password, number, datetime-local, textarea, select, checkbox.
export function field({ label, name, type = "text", value, hint, options, required, autocomplete, rows, list, placeholder, describe = true }) {
  const id = uid(`f-${name}`);
  let control;
  // Values are set as defaults too, so that form.reset() comes back to them.
  if (type === "select") {
    control = h("select", { id, name }, options.map(([v, text, extra = {}]) => h("option", { value: v, ...extra }, text)));
    for (const option of control.options) option.defaultSelected = value !== undefined && option.value === String(value);
    if (value !== undefined) control.value = value;
  } else if (type === "textarea") {
    control = h("textarea", { id, name, rows: rows || 4, placeholder });
    control.defaultValue = value || "";
  } else if (type === "checkbox") {
    control = h("input", { id, name, type });
    control.defaultChecked = Boolean(value);
    control.checked = Boolean(value);
  } else {
    control = h("input", { id, name, type, autocomplete, list, placeholder, spellcheck: type === "text" ? "true" : null });
    control.defaultValue = value === undefined || value === null ? "" : String(value);
  }
  if (required) {
    control.required = true;
    control.setAttribute("aria-required", "true");
  }
  const hintEl = hint && describe ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  const error = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
  if (type === "checkbox") {
    return h("div", { class: "field check", "data-field": name }, control, h("label", { for: id }, label), hintEl, error);
  }
  return h(
    "div",
    { class: "field", "data-field": name },
    h("label", { for: id }, label, required ? h("span", { class: "req" }, " (required)") : null),
    control,
    hintEl,
    error,
  );
}

// A <fieldset> that takes an error for `name` (services, say).
export function fieldset(legend, name, children, hint) {
  const id = uid(`fs-${name}`);
  const hintEl = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  const box = h(
    "fieldset",
    { class: "field group-field", "data-field": name, "aria-describedby": hintEl ? hintEl.id : null },
    h("legend", {}, legend),
    hintEl,
    children,
    h("p", { class: "field-error", id: `${id}-error`, hidden: true }),
  );
  return box;
}

// A form that never lets the browser refuse it first: the server decides, and
// its words are shown.
export function form(cls, children) {
  return h("form", { class: ["form", cls], novalidate: true }, h("p", { class: "form-error", role: "alert", hidden: true }), children);
}

export function clearErrors(formEl) {
  for (const p of formEl.querySelectorAll(".field-error, .form-error")) {
    p.textContent = "";
    p.hidden = true;
  }
  for (const el of formEl.querySelectorAll("[aria-invalid]")) {
    el.removeAttribute("aria-invalid");
    const errorId = el.dataset.errorId;
    if (errorId) {
      const ids = (el.getAttribute("aria-describedby") || "").split(" ").filter((x) => x && x !== errorId);
      if (ids.length) el.setAttribute("aria-describedby", ids.join(" "));
      else el.removeAttribute("aria-describedby");
      delete el.dataset.errorId;
    }
  }
}

function boxFor(formEl, name) {
  if (!name) return null;
  // "spec.headers.X-Key": its own box, else spec.headers's, else spec's.
  const parts = name.split(".");
  const candidates = parts.map((_, i) => parts.slice(0, parts.length - i).join("."));
  for (const n of candidates) {
    for (const box of formEl.querySelectorAll("[data-field]")) {
      if (box.dataset.field === n) return box;
    }
  }
  return null;
}

// The labels a form shows for its fields, by the names the server knows them by.
function labelsOf(formEl) {
  const out = new Map();
  for (const box of formEl.querySelectorAll("[data-field]")) {
    const label = box.querySelector(":scope > label, :scope > legend");
    if (!label) continue;
    const copy = label.cloneNode(true);
    for (const extra of copy.querySelectorAll(".req, .vh")) extra.remove();
    const text = copy.textContent.trim();
    if (text) out.set(box.dataset.field, text);
  }
  return out;
}

// A server's message in the form's words: the fields it names as the API
// does, called by their labels ("scheduled_until must be after
// scheduled_for" -> "Ends must be after Starts"). Names that cannot be plain
// words (with an underscore) change wherever they are; the field the error
// names, where it begins the message ("email must be an email address").
export function inFormWords(message, formEl, named) {
  const labels = labelsOf(formEl);
  const field = named ? String(named).split(".")[0] : null;
  return String(message).replace(/(?<![\w.])[a-z][a-z0-9_]*(?![\w.])/g, (word, at) => {
    const label = labels.get(word);
    if (!label || label.toLowerCase() === word) return word;
    return word.includes("_") || (word === field && at === 0) ? label : word;
  });
}

// Show an error: next to the field it names (aria-invalid, aria-describedby,
// focus), else at the top of the form; in the form's words.
export function showError(formEl, error) {
  clearErrors(formEl);
  const words = error && error.message ? inFormWords(error.message, formEl, error.field) : undefined;
  const message = explain(error, words);
  const box = boxFor(formEl, error && error.field);
  if (box) {
    const p = box.querySelector(".field-error");
    p.textContent = message;
    p.hidden = false;
    const target = box.matches("fieldset") ? box : box.querySelector("input, select, textarea");
    target.setAttribute("aria-invalid", "true");
    const ids = (target.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    target.setAttribute("aria-describedby", [p.id, ...ids].join(" "));
    target.dataset.errorId = p.id;
    const focusable = box.matches("fieldset") ? box.querySelector("input, select, textarea") : target;
    if (focusable) focusable.focus();
    return;
  }
  const p = formEl.querySelector(".form-error");
  p.textContent = message;
  p.hidden = false;
}

// Run `handler(form)` on submit, with the submit button busy meanwhile; an
// error it throws is shown in the form.
export function onSubmit(formEl, handler) {
  formEl.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (formEl.dataset.busy) return;
    formEl.dataset.busy = "1";
    formEl.setAttribute("aria-busy", "true");
    const buttons = [...formEl.querySelectorAll("button[type=submit]")];
    for (const b of buttons) b.disabled = true;
    clearErrors(formEl);
    try {
      await handler(formEl);
    } catch (error) {
      if (formEl.isConnected) showError(formEl, error);
      else say(explain(error), "error");
    } finally {
      delete formEl.dataset.busy;
      formEl.removeAttribute("aria-busy");
      for (const b of buttons) b.disabled = false;
    }
  });
  return formEl;
}

export function actions(...children) {
  return h("div", { class: "form-actions" }, children);
}

export function value(formEl, name) {
  const el = formEl.elements.namedItem(name);
  if (!el) return undefined;
  if (el.type === "checkbox") return el.checked;
  return el.value;
}

// -- dialogs ------------------------------------------------------------------

// A modal <dialog> with a heading; closed by Esc, its Close button, or
// `close()`. The focus goes back to what opened it.
export function modal(title, build, { wide = false } = {}) {
  const titleId = uid("dialog-title");
  const opener = document.activeElement;
  const openerKey = opener && opener.dataset ? opener.dataset.key : null;
  const dialog = h("dialog", { class: ["modal", wide && "wide"], "aria-labelledby": titleId });
  const close = () => dialog.close();
  add(dialog, [
    h(
      "div",
      { class: "modal-head" },
      h("h2", { id: titleId }, title),
      h("button", { type: "button", class: "close", "aria-label": "Close", onclick: close }, "✕"),
    ),
    build(close),
  ]);
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (opener && opener.isConnected && !opener.disabled) opener.focus();
    else if (openerKey) focusKey(document, openerKey);
  });
  document.body.append(dialog);
  dialog.showModal();
  const first = dialog.querySelector("[autofocus], input:not([type=hidden]), select, textarea");
  if (first) first.focus();
  return { dialog, close };
}

// A dialog with a form; `submit(form)` runs on submit and closes the dialog
// when it succeeds.
export function formDialog(title, { fields, submitLabel, closeLabel = "Cancel", danger = false, intro, submit, wide = false }) {
  return modal(
    title,
    (close) => {
      const f = form("dialog-form", [
        intro ? h("p", { class: "intro" }, intro) : null,
        fields,
        actions(
          h("button", { type: "submit", class: danger ? "danger strong" : "primary" }, submitLabel),
          h("button", { type: "button", onclick: close }, closeLabel),
        ),
      ]);
      return onSubmit(f, async () => {
        await submit(f);
        close();
      });
    },
    { wide },
  );
}

// -- messages --------------------------------------------------------------------

let sayTimer = null;
// A short message at the bottom of the screen, in a live region (polite for
// news, assertive for errors); it fades after a while.
export function say(text, kind = "ok") {
  const region = document.getElementById(kind === "error" ? "alert" : "notice");
  const other = document.getElementById(kind === "error" ? "notice" : "alert");
  if (!region) return;
  keepClearOfToasts(region.parentElement);
  if (other) other.textContent = "";
  region.textContent = text;
  clearTimeout(sayTimer);
  sayTimer = setTimeout(() => {
    region.textContent = "";
  }, kind === "error" ? 12_000 : 6_000);
}

// The page keeps room below its content for the messages shown over it
// (--toasts, in console.css), so that scrolled to the end, its last row is
// never under one; a reader already at the end stays there.
let toastsWatched = null;
function keepClearOfToasts(box) {
  if (!box || toastsWatched === box || typeof ResizeObserver === "undefined") return;
  toastsWatched = box;
  new ResizeObserver(() => {
    const root = document.documentElement;
    const atEnd = scrollY + innerHeight >= root.scrollHeight - 2;
    const room = box.offsetHeight ? box.offsetHeight + parseFloat(getComputedStyle(box).bottom || "0") : 0;
    root.style.setProperty("--toasts", `${Math.ceil(room)}px`);
    if (atEnd && room) scrollTo({ top: root.scrollHeight, behavior: "instant" });
  }).observe(box);
}

// Copy text, saying whether it worked.
export async function copy(text, what = "Copied") {
  try {
    await navigator.clipboard.writeText(text);
    say(`${what} to the clipboard.`);
  } catch (e) {
    say("Copying is not allowed here: select the text and copy it by hand.", "error");
  }
}

// A secret shown once: the value, a Copy button, and the warning.
export function secretBox(title, secret, note) {
  const id = uid("secret");
  return h(
    "div",
    { class: "secret", role: "status" },
    h("p", { class: "secret-title" }, h("strong", {}, title)),
    h("p", { class: "secret-row" }, h("code", { id, class: "secret-value", tabindex: "0" }, secret), h("button", { type: "button", onclick: () => copy(secret) }, "Copy")),
    h("p", { class: "hint" }, note),
  );
}

// `load()` run again on demand, one run at a time: asked while it runs, it
// runs once more afterwards, so the last answer drawn is never older than
// the last ask (events that tell a view to read its list again come in bursts).
export function reloader(load) {
  let running = null;
  let again = false;
  return function reload() {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await load();
        } while (again);
      } finally {
        running = null;
      }
    })();
    return running;
  };
}

// "Show older ..." under a list: loads `path` a page at a time (limit and
// offset) into the app's `kind`, then calls `loaded`. `what` names the
// items ("incidents"); `label` is what an error says could not be loaded.
export function olderPages(app, { kind, path, what, label, loaded, size = 10 }) {
  const element = h("div", { class: "more" });
  const state = { next: 0, loading: false, error: null, done: false };

  async function load() {
    if (state.loading || state.done) return;
    state.loading = true;
    state.error = null;
    draw();
    try {
      const page = await app.api("GET", `${path}&limit=${size}&offset=${state.next}`);
      for (const item of page.data) app.upsert(kind, item);
      state.next += page.data.length;
      state.done = !page.page.next;
    } catch (error) {
      state.error = explain(error);
    } finally {
      state.loading = false;
      draw();
      loaded();
    }
  }

  function draw() {
    clear(element);
    if (state.error) element.append(h("p", { class: "error-text", role: "alert" }, `${label} could not be loaded. ${state.error}`));
    if (state.loading) element.append(h("p", { class: "muted", role: "status" }, "Loading…"));
    else if (!state.done || state.error) element.append(h("button", { type: "button", "data-key": "more", onclick: load }, state.error ? "Try again" : `Show older ${what}`));
  }

  return { element, load, get settled() { return state.done && !state.loading; } };
}
