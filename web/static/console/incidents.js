// Incidents: declare one (impact, affected services, first words), post
// updates, resolve, and write the postmortem. Active ones are live (the org
// topic); resolved ones are loaded a page at a time. Each links to its room.

import { h, add, clear, redraw, field, fieldset, formDialog, say, explain, value, time, tag, STATUS, PROGRESS, IMPACT, olderPages } from "./dom.js";
import { loading } from "./services.js";

const ACTIVE = ["investigating", "identified", "monitoring"];
const WORSE = ["degraded_performance", "partial_outage", "major_outage"];
const PAGE = 10;

const newestFirst = (a, b) => (a.started_at < b.started_at ? 1 : a.started_at > b.started_at ? -1 : 0);

export function incidentsView(app, main) {
  const canChange = app.can("responder");
  const activeBox = h("div", { class: "cards", id: "active-incidents" });
  const pastBox = h("div", { class: "cards", id: "past-incidents" });
  const older = olderPages(app, { kind: "incidents", path: "/incidents?status=resolved", what: "incidents", label: "Resolved incidents", loaded: () => update() });

  add(main, [
    h(
      "div",
      { class: "view-head" },
      h("h1", {}, "Incidents"),
      canChange ? h("button", { type: "button", class: "primary", "data-key": "declare", onclick: () => declareDialog(app) }, "Declare incident") : null,
    ),
    h("section", { "aria-labelledby": "active-h" }, h("h2", { id: "active-h" }, "Active"), activeBox),
    h("section", { "aria-labelledby": "past-h" }, h("h2", { id: "past-h" }, "Resolved"), pastBox, older.element),
  ]);

  function update() {
    const all = [...app.data.incidents.values()].sort(newestFirst);
    redraw(activeBox, () => {
      if (!app.data.ready) return loading(app);
      const active = all.filter((i) => ACTIVE.includes(i.status));
      if (!active.length) return h("p", { class: "empty" }, "No active incidents. All quiet.");
      return active.map((i) => card(app, i));
    });
    redraw(pastBox, () => {
      const past = all.filter((i) => !ACTIVE.includes(i.status));
      if (!past.length) return h("p", { class: "empty" }, older.settled ? "No resolved incidents yet." : "");
      return past.map((i) => card(app, i));
    });
  }

  update();
  older.load();
  return { update };
}

function affects(app, incident) {
  const names = Object.entries(incident.services).map(([id, status]) => {
    const s = app.data.services.get(id);
    return `${s ? s.name : "a deleted service"} (${STATUS[status]})`;
  });
  return names.join(", ");
}

function updateItem(u) {
  const moves = (u.affected_services || []).map((a) => `${a.name}: ${STATUS[a.old_status]} → ${STATUS[a.new_status]}`);
  return h(
    "li",
    {},
    h("p", {}, h("strong", {}, PROGRESS[u.status] || u.status), " ", h("span", { class: "body" }, u.body)),
    moves.length ? h("p", { class: "moves" }, moves.join(" · ")) : null,
    h("p", { class: "when" }, time(u.created_at), u.author ? ` · ${u.author}` : ""),
  );
}

// The postmortem as written (its Markdown is drawn on the public page).
function postmortemItem(p) {
  const revised = p.updated_at !== p.published_at ? [", revised ", time(p.updated_at)] : null;
  return h(
    "details",
    { class: "postmortem" },
    h("summary", {}, "Postmortem"),
    h("p", { class: "body" }, p.body),
    h("p", { class: "when" }, "Published ", time(p.published_at), revised),
  );
}

function card(app, i) {
  const canChange = app.can("responder");
  const active = ACTIVE.includes(i.status);
  const updates = [...i.updates].reverse();
  const last = updates[0];
  const room = `/admin/incidents/${encodeURIComponent(i.id)}`;
  const what = affects(app, i);
  const buttons = [];
  if (canChange && active) {
    buttons.push(h("button", { type: "button", class: "primary", "data-key": `update-${i.id}`, onclick: () => updateDialog(app, i) }, "Post update", h("span", { class: "vh" }, ` to ${i.name}`)));
    buttons.push(h("button", { type: "button", "data-key": `resolve-${i.id}`, onclick: () => resolveDialog(app, i) }, "Resolve", h("span", { class: "vh" }, ` ${i.name}`)));
  }
  if (canChange && !active) {
    const label = i.postmortem || i.status === "postmortem" ? "Revise postmortem" : "Write postmortem";
    buttons.push(h("button", { type: "button", "data-key": `postmortem-${i.id}`, onclick: () => postmortemDialog(app, i) }, label, h("span", { class: "vh" }, ` for ${i.name}`)));
  }
  buttons.push(h("a", { class: "button", href: room }, "Incident room", h("span", { class: "vh" }, ` of ${i.name}`)));
  return h(
    "article",
    { class: ["incident", "card", `impact-${i.impact}`], id: `incident-${i.id}`, "aria-labelledby": `incident-${i.id}-h` },
    h(
      "div",
      { class: "card-head" },
      h("h3", { class: "incident-name", id: `incident-${i.id}-h` }, h("a", { href: room }, i.name)),
      h("p", { class: "tags" }, tag(PROGRESS[i.status], `progress progress-${i.status}`), tag(IMPACT[i.impact], `impact impact-${i.impact}`)),
    ),
    h(
      "p",
      { class: "meta" },
      h("span", {}, "Started ", time(i.started_at)),
      i.resolved_at ? h("span", {}, "Resolved ", time(i.resolved_at)) : null,
      what ? h("span", { class: "affects" }, `Affects ${what}`) : null,
    ),
    i.postmortem ? postmortemItem(i.postmortem) : null,
    last ? h("div", { class: "latest" }, h("ol", { class: "timeline" }, updateItem(last))) : null,
    updates.length > 1
      ? h("details", { class: "history" }, h("summary", {}, `Earlier updates (${updates.length - 1})`), h("ol", { class: "timeline" }, updates.slice(1).map(updateItem)))
      : null,
    h("div", { class: "card-actions" }, buttons),
  );
}

// -- forms -------------------------------------------------------------------

// One select per service: how the incident affects it. `current` is the
// incident's requirements (when posting an update).
function servicesField(app, current = {}) {
  const rows = app.services().map((s) => {
    const now = current[s.id];
    const options = now ? [["", `${STATUS[now]} (no change)`]] : [["", "Not affected"]];
    for (const st of now ? ["operational", ...WORSE] : WORSE) if (st !== now) options.push([st, st === "operational" ? "Operational (recovered)" : STATUS[st]]);
    const id = `svc-${s.id}`;
    return h(
      "div",
      { class: "service-pick" },
      h("label", { for: id }, s.name, h("span", { class: "muted now" }, ` now ${STATUS[s.status]}`)),
      h("select", { id, name: `service:${s.id}`, "data-service": s.id }, options.map(([v, text]) => h("option", { value: v }, text))),
    );
  });
  const hint = "An incident only makes a service worse; resolving it gives each service back.";
  return fieldset("Affected services", "services", rows.length ? h("div", { class: "service-picks" }, rows) : h("p", { class: "muted" }, "No services yet."), hint);
}

function pickedServices(f) {
  const out = {};
  for (const select of f.querySelectorAll("select[data-service]")) if (select.value) out[select.dataset.service] = select.value;
  return out;
}

const impactOptions = (first) => [["", first], ...Object.entries(IMPACT)];

function declareDialog(app) {
  formDialog("Declare an incident", {
    submitLabel: "Declare incident",
    wide: true,
    fields: [
      field({ label: "Name", name: "name", required: true, autocomplete: "off", hint: "What people see on the public page, e.g. “Elevated API errors”." }),
      h(
        "div",
        { class: "field-row" },
        field({ label: "Status", name: "status", type: "select", value: "investigating", options: ACTIVE.map((s) => [s, PROGRESS[s]]) }),
        field({ label: "Impact", name: "impact", type: "select", value: "", options: impactOptions("Follow the affected services") }),
      ),
      field({ label: "Message", name: "body", type: "textarea", rows: 3, hint: "Shown on the public page. Left empty, a standard sentence for the status is used." }),
      servicesField(app),
    ],
    async submit(f) {
      const body = { name: value(f, "name"), status: value(f, "status"), body: value(f, "body"), services: pickedServices(f) };
      if (value(f, "impact")) body.impact = value(f, "impact");
      const created = await app.api("POST", "/incidents", body);
      app.upsert("incidents", created);
      say(`Incident “${created.name}” declared.`);
    },
  });
}

function updateDialog(app, i) {
  formDialog(`Post an update: ${i.name}`, {
    submitLabel: "Post update",
    wide: true,
    fields: [
      h(
        "div",
        { class: "field-row" },
        field({ label: "Status", name: "status", type: "select", value: i.status, options: [...ACTIVE, "resolved"].map((s) => [s, PROGRESS[s]]) }),
        field({ label: "Impact", name: "impact", type: "select", value: "", options: impactOptions(`${IMPACT[i.impact]} (no change)`) }),
      ),
      field({ label: "Message", name: "body", type: "textarea", rows: 4, hint: "Shown on the public page." }),
      servicesField(app, i.services),
      field({ label: "Name", name: "name", value: i.name, autocomplete: "off" }),
    ],
    async submit(f) {
      const body = {};
      if (value(f, "status") !== i.status) body.status = value(f, "status");
      if (value(f, "body").trim()) body.body = value(f, "body");
      if (value(f, "impact")) body.impact = value(f, "impact");
      if (value(f, "name") !== i.name) body.name = value(f, "name");
      const services = pickedServices(f);
      if (Object.keys(services).length) body.services = services;
      if (!Object.keys(body).length) {
        const error = new Error("write a message, or change the status, impact or services");
        error.field = "body";
        throw error;
      }
      const saved = await app.api("PATCH", `/incidents/${encodeURIComponent(i.id)}`, body);
      app.upsert("incidents", saved);
      say(`Update posted to “${saved.name}”.`);
    },
  });
}

function resolveDialog(app, i) {
  formDialog(`Resolve: ${i.name}`, {
    submitLabel: "Resolve incident",
    intro: "Its services go back to operational, unless another active incident still needs them worse.",
    fields: [field({ label: "Message", name: "body", type: "textarea", rows: 3, hint: "Left empty: “This incident has been resolved.”" })],
    async submit(f) {
      const words = value(f, "body");
      const saved = await app.api("POST", `/incidents/${encodeURIComponent(i.id)}/resolve`, words.trim() ? { body: words } : undefined);
      app.upsert("incidents", saved);
      say(`“${saved.name}” is resolved.`);
    },
  });
}

// The incident's one postmortem: written once resolved, then revised in place.
// Incidents from before postmortems had their own place kept the text in their
// timeline: that is where a revision starts from.
function postmortemDialog(app, i) {
  const current = i.postmortem ? i.postmortem.body : ([...i.updates].reverse().find((u) => u.status === "postmortem") || {}).body;
  const revising = Boolean(i.postmortem);
  formDialog(`Postmortem: ${i.name}`, {
    submitLabel: revising ? "Publish revision" : "Publish postmortem",
    wide: true,
    intro: revising
      ? "The revision replaces the published postmortem; the timeline says it was revised."
      : "What happened, why, and what will change. It is published on the public page.",
    fields: [field({ label: "Postmortem", name: "body", type: "textarea", rows: 12, value: current || "", required: true, hint: "Markdown: headings, lists, emphasis, code and links. HTML is shown as text." })],
    async submit(f) {
      const body = value(f, "body");
      if (!body.trim()) {
        const error = new Error("write the postmortem: what happened, why, and what will change");
        error.field = "body";
        throw error;
      }
      const saved = await app.api("PUT", `/incidents/${encodeURIComponent(i.id)}/postmortem`, { body });
      app.upsert("incidents", saved);
      say(revising ? `Postmortem revised for “${saved.name}”.` : `Postmortem published for “${saved.name}”.`);
    },
  });
}
