// A monitor's form: every setting of every kind (docs/api.md, "Monitors"),
// the kind's own settings redrawn when the kind changes. The server decides
// what is valid; its words are shown beside the field they name (spec.url,
// quorum...). Also: deleting one, and a heartbeat's push URL, shown once.

import { h, add, clear, field, fieldset, formDialog, say, value, copy, STATUS } from "./dom.js";

export const KINDS = {
  http: "HTTP(S) request",
  tcp: "TCP port",
  tls: "TLS certificate",
  heartbeat: "Heartbeat (a job calls in)",
};
const POLICIES = [
  ["status", "Set the service's status while it is down"],
  ["incident", "Open an incident, and resolve it once it is up again"],
  ["none", "Record it only"],
];
const DOWN_STATUSES = ["degraded_performance", "partial_outage", "major_outage"];
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

// "45 s", "10 min", "1 h 30 min", "1 d"
export function duration(seconds) {
  if (seconds < 60 || (seconds < 120 && seconds % 60)) return `${seconds} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86_400 || seconds % 86_400) {
    const h = Math.floor(seconds / 3600);
    const m = Math.round((seconds % 3600) / 60);
    return m ? `${h} h ${m} min` : `${h} h`;
  }
  return `${seconds / 86_400} d`;
}

// What a monitor checks, in a few words: its URL, host and port, or its beat.
export function target(m) {
  const s = m.spec || {};
  if (m.kind === "http") return `${s.method && s.method !== "GET" ? `${s.method} ` : ""}${s.url || ""}`;
  if (m.kind === "tcp") return `${s.host}:${s.port}`;
  if (m.kind === "tls") return `${s.server_name || s.host}:${s.port} (certificate)`;
  return `expected every ${duration(m.interval)}`;
}

// -- the settings of each kind ----------------------------------------------------

function specFields(kind, m) {
  const s = (m && m.kind === kind && m.spec) || {};
  const v = (key, fallback = "") => (s[key] === undefined || s[key] === null ? fallback : s[key]);
  const timeout = field({ label: "Timeout (seconds)", name: "spec.timeout", type: "number", value: v("timeout", 10), hint: "1 to 60; no answer by then is a failure." });
  const slow = field({ label: "Slow after (milliseconds)", name: "spec.degraded_ms", type: "number", value: v("degraded_ms"), hint: "Slower than this counts as degraded. Empty: never." });
  if (kind === "http") {
    const headers = Object.entries(s.headers || {}).map(([name, val]) => (val === null ? name : `${name}: ${val}`));
    return [
      field({ label: "URL", name: "spec.url", value: v("url"), required: true, autocomplete: "off", placeholder: "https://example.com/health" }),
      h(
        "div",
        { class: "field-row" },
        field({ label: "Method", name: "spec.method", type: "select", value: v("method", "GET"), options: METHODS.map((x) => [x, x]) }),
        field({ label: "Expected status", name: "spec.expected_status", value: (s.expected_status || ["200-399"]).join(", "), hint: "Codes or ranges, e.g. 200-299, 304." }),
      ),
      h(
        "div",
        { class: "field-row" },
        field({ label: "Keyword", name: "spec.keyword", value: v("keyword"), hint: "The body must contain it (case matters). Empty: not looked for." }),
        field({ label: "The keyword must be absent", name: "spec.keyword_absent", type: "checkbox", value: v("keyword_absent", false) }),
      ),
      h(
        "div",
        { class: "field-row" },
        field({ label: "JSON path", name: "spec.json_path", value: v("json_path"), hint: "A value in a JSON body, e.g. status.db or items.0.ok: it must be there." }),
        field({ label: "JSON value expected", name: "spec.json_expected", value: v("json_expected"), hint: "What the path must hold, as text (ok, true, 42). Empty: any." }),
      ),
      field({
        label: "Request headers",
        name: "spec.headers",
        type: "textarea",
        rows: 2,
        value: headers.join("\n"),
        hint: m ? "One per line, as Name: value. A name alone keeps the value already set (values are never shown); a header taken out is removed." : "One per line, as Name: value. Values are never shown again.",
      }),
      field({
        label: "Request body",
        name: "spec.body",
        type: "textarea",
        rows: 2,
        hint: s.body_set ? "A body is set (it is never shown): leave this empty to keep it, or write a new one." : "Sent as is. Never shown again.",
      }),
      s.body_set ? field({ label: "Remove the body", name: "spec.body_remove", type: "checkbox", value: false }) : null,
      h("div", { class: "field-row" }, timeout, slow),
      h(
        "div",
        { class: "checks" },
        field({ label: "Follow redirects", name: "spec.follow_redirects", type: "checkbox", value: v("follow_redirects", true) }),
        field({ label: "Verify the TLS certificate", name: "spec.verify_tls", type: "checkbox", value: v("verify_tls", true) }),
      ),
    ];
  }
  if (kind === "tcp") {
    return [
      h(
        "div",
        { class: "field-row" },
        field({ label: "Host", name: "spec.host", value: v("host"), required: true, autocomplete: "off", placeholder: "db.example.com" }),
        field({ label: "Port", name: "spec.port", type: "number", value: v("port"), required: true }),
      ),
      h("div", { class: "field-row" }, timeout, slow),
    ];
  }
  if (kind === "tls") {
    return [
      h(
        "div",
        { class: "field-row" },
        field({ label: "Host", name: "spec.host", value: v("host"), required: true, autocomplete: "off", placeholder: "example.com" }),
        field({ label: "Port", name: "spec.port", type: "number", value: v("port", 443) }),
      ),
      h(
        "div",
        { class: "field-row" },
        field({ label: "Degraded when it expires within (days)", name: "spec.days_before_expiry", type: "number", value: v("days_before_expiry", 14), hint: "1 to 365. Expired or untrusted is down." }),
        field({ label: "Server name", name: "spec.server_name", value: v("server_name"), hint: "The name sent and verified, when it is not the host's." }),
      ),
      timeout,
    ];
  }
  return [h("p", { class: "hint" }, "A heartbeat has nothing to check: your job calls its push URL each time it has run, and silence is a failure. The URL is shown once the monitor is made.")];
}

// -- reading the form -------------------------------------------------------------

// A number as typed: a number when it is one, else the text (the server says what is wrong).
function number(text) {
  const t = String(text).trim();
  return /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : t;
}
const optional = (text) => (String(text).trim() === "" ? null : String(text).trim());

function readHeaders(text) {
  const out = {};
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const at = line.indexOf(":");
    if (at < 0) out[line.trim()] = null; // kept as it is
    else out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

function readSpec(f, kind, m) {
  const get = (name) => value(f, `spec.${name}`);
  const num = (name) => (String(get(name)).trim() === "" ? null : number(get(name)));
  if (kind === "heartbeat") return {};
  if (kind === "tcp") return { host: get("host").trim(), port: num("port"), timeout: num("timeout") ?? 10, degraded_ms: num("degraded_ms") };
  if (kind === "tls") {
    return { host: get("host").trim(), port: num("port") ?? 443, days_before_expiry: num("days_before_expiry") ?? 14, server_name: optional(get("server_name")), timeout: num("timeout") ?? 10 };
  }
  const spec = {
    url: get("url").trim(),
    method: get("method"),
    expected_status: get("expected_status").split(",").map((x) => x.trim()).filter(Boolean),
    keyword: optional(get("keyword")),
    keyword_absent: get("keyword_absent"),
    json_path: optional(get("json_path")),
    json_expected: optional(get("json_expected")),
    headers: readHeaders(get("headers")),
    timeout: num("timeout") ?? 10,
    degraded_ms: num("degraded_ms"),
    follow_redirects: get("follow_redirects"),
    verify_tls: get("verify_tls"),
  };
  // No body given: none for a new monitor, the one it has (if any) for an edit.
  if (get("body_remove")) spec.body = null;
  else if (get("body") !== "") spec.body = get("body");
  return spec;
}

function readMonitor(f, kind, m) {
  const body = {
    name: value(f, "name"),
    service: value(f, "service"),
    interval: number(value(f, "interval")),
    down_after: number(value(f, "down_after")),
    up_after: number(value(f, "up_after")),
    policy: value(f, "policy"),
    down_status: value(f, "down_status"),
    resolve_after: number(value(f, "resolve_after")),
    paused: value(f, "paused"),
    spec: readSpec(f, kind, m),
  };
  if (kind === "heartbeat") body.grace = number(value(f, "grace"));
  else {
    body.regions = value(f, "regions").split(/[\s,]+/).filter(Boolean);
    body.quorum = number(value(f, "quorum"));
  }
  return body;
}

// Fields as the server has them, to send only what changed.
const same = (a, b) => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));
function sorted(v) {
  if (Array.isArray(v)) return v.map(sorted);
  if (v && typeof v === "object") return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k])]));
  return v;
}

// -- the dialog ---------------------------------------------------------------------

// New (m null) or edit. `made(answer)` is told what was created.
export function monitorDialog(app, m, { made } = {}) {
  const editing = Boolean(m);
  const services = app.services();
  const regionsNow = app.data.probes.map((p) => p.region);
  let kind = editing ? m.kind : "http";
  const specBox = h("div", { class: "spec-fields" });
  const drawSpec = () => add(clear(specBox), [specFields(kind, m)]);
  const forKind = [];
  const only = (kinds, el) => {
    forKind.push([kinds, el]);
    el.hidden = !kinds.includes(kind);
    return el;
  };
  const everyKindButHeartbeat = ["http", "tcp", "tls"];
  const kindField = editing
    ? h("p", { class: "kind-line" }, h("strong", {}, "Kind: "), KINDS[m.kind], h("span", { class: "muted" }, " (a monitor keeps its kind)"))
    : field({ label: "Kind", name: "kind", type: "select", value: kind, options: Object.entries(KINDS) });
  const intervalHint = (k) => (k === "heartbeat" ? "How often the job runs: 10 to 86,400. Silence this long (and the grace) is a failure." : "Between checks in each region: 10 to 86,400. Default 30.");
  const intervalField = field({ label: "Every (seconds)", name: "interval", type: "number", value: editing ? m.interval : 30, hint: intervalHint(kind) });

  drawSpec();
  const dialog = formDialog(editing ? `Edit ${m.name}` : "New monitor", {
    wide: true,
    submitLabel: editing ? "Save changes" : "Create monitor",
    fields: [
      field({ label: "Name", name: "name", value: editing ? m.name : "", required: true, autocomplete: "off" }),
      h(
        "div",
        { class: "field-row" },
        field({
          label: "Service",
          name: "service",
          type: "select",
          value: editing ? m.service_id : services[0] && services[0].id,
          options: services.map((s) => [s.id, s.name]),
          hint: "The service it watches.",
        }),
        kindField,
      ),
      fieldset("What it checks", "spec", [specBox]),
      fieldset("Where and how often", "schedule", [
        h(
          "div",
          { class: "field-row" },
          intervalField,
          only(["heartbeat"], field({ label: "Grace (seconds)", name: "grace", type: "number", value: editing ? m.grace : 60, hint: "Lateness forgiven: 0 to 86,400." })),
          only(everyKindButHeartbeat, field({ label: "Quorum", name: "quorum", type: "number", value: editing ? m.quorum : 1, hint: "Regions that must see it down before it is down." })),
        ),
        only(
          everyKindButHeartbeat,
          field({
            label: "Regions",
            name: "regions",
            value: editing ? m.regions.join(", ") : "",
            autocomplete: "off",
            hint: `Where it is checked, separated by commas. Empty: every region${regionsNow.length ? ` (now ${regionsNow.join(", ")})` : ""}.`,
          }),
        ),
        h(
          "div",
          { class: "field-row" },
          field({ label: "Down after (results in a row)", name: "down_after", type: "number", value: editing ? m.down_after : 2, hint: "1 to 20: failures before a region counts as down." }),
          field({ label: "Up after (results in a row)", name: "up_after", type: "number", value: editing ? m.up_after : 2, hint: "1 to 20: successes before it counts as up again." }),
        ),
      ]),
      fieldset("When it is down", "effect", [
        field({ label: "Then", name: "policy", type: "select", value: editing ? m.policy : "status", options: POLICIES }),
        h(
          "div",
          { class: "field-row" },
          field({ label: "The service shows", name: "down_status", type: "select", value: editing ? m.down_status : "major_outage", options: DOWN_STATUSES.map((x) => [x, STATUS[x]]) }),
          field({ label: "Resolve after up for (seconds)", name: "resolve_after", type: "number", value: editing ? m.resolve_after : 300, hint: "The incident policy's: 0 resolves it at once." }),
        ),
        field({ label: "Paused (not checked)", name: "paused", type: "checkbox", value: editing ? m.paused : false }),
      ]),
    ],
    async submit(f) {
      const body = readMonitor(f, kind, m);
      if (!editing) {
        const created = await app.api("POST", "/monitors", { ...body, kind });
        app.upsert("monitors", created);
        say(`Monitor ${created.name} created.`);
        if (made) made(created);
        return;
      }
      const before = { ...m, service: m.service_id, spec: Object.fromEntries(Object.entries(m.spec).filter(([k]) => k !== "body_set")) };
      const changes = Object.fromEntries(Object.entries(body).filter(([k, v]) => !same(v, before[k])));
      if (!Object.keys(changes).length) return;
      const saved = await app.api("PATCH", `/monitors/${encodeURIComponent(m.id)}`, changes);
      app.upsert("monitors", saved);
      say(`Monitor ${saved.name} saved.`);
    },
  });
  if (!editing) {
    const select = dialog.dialog.querySelector("select[name=kind]");
    select.addEventListener("change", () => {
      kind = select.value;
      drawSpec();
      for (const [kinds, el] of forKind) el.hidden = !kinds.includes(kind);
      const hint = intervalField.querySelector(".hint");
      if (hint) hint.textContent = intervalHint(kind);
    });
  }
  return dialog;
}

export function deleteMonitorDialog(app, m, { deleted } = {}) {
  formDialog(`Delete ${m.name}?`, {
    submitLabel: "Delete monitor",
    danger: true,
    intro: "Its checks stop and what it did ends (the service's status it held, an incident it opened is resolved). Its results stay until they expire. This cannot be undone.",
    fields: [],
    async submit() {
      await app.api("DELETE", `/monitors/${encodeURIComponent(m.id)}`);
      app.remove("monitors", m.id);
      say(`Monitor ${m.name} deleted.`);
      if (deleted) deleted();
    },
  });
}

// -- a heartbeat's push URL -----------------------------------------------------------

// A crontab schedule that runs about every `seconds`.
export function cronFor(seconds) {
  const minutes = Math.round(seconds / 60);
  if (minutes < 60 && minutes >= 1 && 60 % minutes === 0) return minutes === 1 ? "* * * * *" : `*/${minutes} * * * *`;
  const hours = Math.round(seconds / 3600);
  if (hours >= 1 && hours < 24 && 24 % hours === 0) return hours === 1 ? "0 * * * *" : `0 */${hours} * * *`;
  return "0 3 * * *";
}

function copyLine(label, text, what) {
  return h(
    "div",
    { class: "copy-line" },
    h("p", { class: "copy-label" }, label),
    h(
      "p",
      { class: "secret-row" },
      h("code", { class: "secret-value", tabindex: "0" }, text),
      h("button", { type: "button", onclick: () => copy(text, what) }, "Copy", h("span", { class: "vh" }, ` ${label.toLowerCase()}`)),
    ),
  );
}

// The push URL of a heartbeat monitor, shown once (when made, or renewed).
export function pushUrlBox(m, token) {
  const url = `${location.origin}/api/v1/heartbeat/${token}`;
  const curl = `curl -fsS -m 10 --retry 3 "${url}?status=up&msg=OK"`;
  const cron = `${cronFor(m.interval)} /path/to/job && curl -fsS -m 10 --retry 3 "${url}" >/dev/null || curl -fsS -m 10 "${url}?status=down&msg=failed" >/dev/null`;
  return h(
    "section",
    { class: "secret push-url", role: "status", "aria-labelledby": `push-${m.id}-h` },
    h("h2", { id: `push-${m.id}-h`, class: "secret-title" }, `Push URL of ${m.name}`),
    copyLine("Push URL", url, "The push URL was copied"),
    copyLine("Call it when the job has run", curl, "The curl line was copied"),
    copyLine("Or in a crontab", cron, "The cron line was copied"),
    h(
      "p",
      { class: "hint" },
      "Copy it now: it is shown only this once, and it is the whole credential. ",
      "GET or POST both work; status=down says the job failed, msg= says why, ping= its time in milliseconds (as Uptime Kuma's push URL).",
    ),
  );
}
