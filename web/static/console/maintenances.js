// Maintenances: schedule one (window, services, words, automatic start and
// completion), update it (move its status, change its window or services,
// post words), cancel one that has not started. Open ones are live; past
// ones are loaded a page at a time.

import { h, add, clear, redraw, field, fieldset, formDialog, say, explain, value, time, tag, localInput, fromLocalInput, utcOffset, PROGRESS, olderPages } from "./dom.js";
import { loading } from "./services.js";

const OVER = ["completed", "cancelled"];
const RUNNING = ["in_progress", "verifying"];
const MOVES = { scheduled: ["in_progress"], in_progress: ["verifying", "completed"], verifying: ["in_progress", "completed"] };
const PAGE = 10;

const soonestFirst = (a, b) => (a.scheduled_for < b.scheduled_for ? -1 : a.scheduled_for > b.scheduled_for ? 1 : 0);

export function maintenancesView(app, main) {
  const canChange = app.can("responder");
  const openBox = h("div", { class: "cards", id: "open-maintenances" });
  const pastBox = h("div", { class: "cards", id: "past-maintenances" });
  const older = olderPages(app, { kind: "maintenances", path: "/maintenances?status=over", what: "maintenances", label: "Past maintenances", loaded: () => update() });

  add(main, [
    h(
      "div",
      { class: "view-head" },
      h("h1", {}, "Maintenance"),
      canChange ? h("button", { type: "button", class: "primary", "data-key": "schedule", onclick: () => scheduleDialog(app) }, "Schedule maintenance") : null,
    ),
    h("section", { "aria-labelledby": "open-h" }, h("h2", { id: "open-h" }, "Upcoming and in progress"), openBox),
    h("section", { "aria-labelledby": "over-h" }, h("h2", { id: "over-h" }, "Past"), pastBox, older.element),
  ]);

  function update() {
    const all = [...app.data.maintenances.values()];
    redraw(openBox, () => {
      if (!app.data.ready) return loading(app);
      const open = all.filter((m) => !OVER.includes(m.status)).sort(soonestFirst);
      if (!open.length) return h("p", { class: "empty" }, "Nothing scheduled.");
      return open.map((m) => card(app, m));
    });
    redraw(pastBox, () => {
      const past = all.filter((m) => OVER.includes(m.status)).sort((a, b) => soonestFirst(b, a));
      if (!past.length) return h("p", { class: "empty" }, older.settled ? "No past maintenances." : "");
      return past.map((m) => card(app, m));
    });
  }

  update();
  older.load();
  return { update };
}

function serviceNames(app, ids) {
  return ids.map((id) => (app.data.services.get(id) || { name: "a deleted service" }).name).join(", ");
}

function updateItem(u) {
  return h(
    "li",
    {},
    h("p", {}, h("strong", {}, PROGRESS[u.status] || u.status), " ", h("span", { class: "body" }, u.body)),
    h("p", { class: "when" }, time(u.created_at), u.author ? ` · ${u.author}` : ""),
  );
}

function card(app, m) {
  const canChange = app.can("responder");
  const updates = [...m.updates].reverse();
  const buttons = [];
  if (canChange && !OVER.includes(m.status)) {
    buttons.push(h("button", { type: "button", class: "primary", "data-key": `mupdate-${m.id}`, onclick: () => updateDialog(app, m) }, "Update", h("span", { class: "vh" }, ` ${m.name}`)));
    if (m.status === "scheduled") {
      buttons.push(h("button", { type: "button", class: "danger", "data-key": `cancel-${m.id}`, onclick: () => cancelDialog(app, m) }, "Cancel", h("span", { class: "vh" }, ` ${m.name}`)));
    }
  }
  const automatic = [];
  if (m.status === "scheduled" && m.auto_start) automatic.push("starts on its own");
  if (!OVER.includes(m.status) && m.auto_complete) automatic.push("completes on its own");
  return h(
    "article",
    { class: ["maintenance", "card"], id: `maintenance-${m.id}`, "aria-labelledby": `maintenance-${m.id}-h` },
    h(
      "div",
      { class: "card-head" },
      h("h3", { class: "incident-name", id: `maintenance-${m.id}-h` }, m.name),
      h("p", { class: "tags" }, tag(PROGRESS[m.status], `progress progress-${m.status}`)),
    ),
    h(
      "p",
      { class: "meta" },
      h("span", { class: "window" }, time(m.scheduled_for), " to ", time(m.scheduled_until)),
      m.service_ids.length ? h("span", { class: "affects" }, `Affects ${serviceNames(app, m.service_ids)}`) : null,
      automatic.length ? h("span", {}, `It ${automatic.join(" and ")}`) : null,
    ),
    updates.length ? h("div", { class: "latest" }, h("ol", { class: "timeline" }, updateItem(updates[0]))) : null,
    updates.length > 1
      ? h("details", { class: "history" }, h("summary", {}, `Earlier updates (${updates.length - 1})`), h("ol", { class: "timeline" }, updates.slice(1).map(updateItem)))
      : null,
    buttons.length ? h("div", { class: "card-actions" }, buttons) : null,
  );
}

// -- forms -------------------------------------------------------------------

function servicesField(app, chosen = []) {
  const boxes = app.services().map((s) => {
    const id = `msvc-${s.id}`;
    return h("div", { class: "check" }, h("input", { type: "checkbox", id, value: s.id, "data-service": s.id, checked: chosen.includes(s.id) }), h("label", { for: id }, s.name));
  });
  return fieldset("Services under maintenance", "services", boxes.length ? h("div", { class: "checks" }, boxes) : h("p", { class: "muted" }, "No services yet."), "They show “Under maintenance” while it runs, then return to their status before.");
}

const picked = (f) => [...f.querySelectorAll("input[data-service]:checked")].map((c) => c.dataset.service);

function windowFields(m, { startEditable = true } = {}) {
  const start = new Date(Math.ceil(Date.now() / 3_600_000) * 3_600_000 + 3_600_000);
  const hint = `Your local time (${utcOffset()}).`;
  return h(
    "div",
    { class: "field-row" },
    startEditable ? field({ label: "Starts", name: "scheduled_for", type: "datetime-local", value: localInput(m ? m.scheduled_for : start), required: true, hint }) : null,
    field({ label: "Ends", name: "scheduled_until", type: "datetime-local", value: localInput(m ? m.scheduled_until : new Date(start.getTime() + 3_600_000)), required: true, hint }),
  );
}

function scheduleDialog(app) {
  formDialog("Schedule maintenance", {
    submitLabel: "Schedule",
    wide: true,
    fields: [
      field({ label: "Name", name: "name", required: true, autocomplete: "off", hint: "E.g. “Database upgrade”." }),
      windowFields(null),
      servicesField(app),
      field({ label: "Message", name: "body", type: "textarea", rows: 3, hint: "Shown on the public page." }),
      field({ label: "Start it at the start time", name: "auto_start", type: "checkbox", value: true }),
      field({ label: "Complete it at the end time", name: "auto_complete", type: "checkbox", value: true }),
    ],
    async submit(f) {
      const created = await app.api("POST", "/maintenances", {
        name: value(f, "name"),
        scheduled_for: fromLocalInput(value(f, "scheduled_for")),
        scheduled_until: fromLocalInput(value(f, "scheduled_until")),
        services: picked(f),
        body: value(f, "body"),
        auto_start: value(f, "auto_start"),
        auto_complete: value(f, "auto_complete"),
      });
      app.upsert("maintenances", created);
      say(`Maintenance “${created.name}” scheduled.`);
    },
  });
}

function updateDialog(app, m) {
  const scheduled = m.status === "scheduled";
  const running = RUNNING.includes(m.status);
  formDialog(`Update: ${m.name}`, {
    submitLabel: "Save update",
    wide: true,
    fields: [
      field({ label: "Status", name: "status", type: "select", value: "", options: [["", `${PROGRESS[m.status]} (no change)`], ...MOVES[m.status].map((s) => [s, PROGRESS[s]])] }),
      field({ label: "Message", name: "body", type: "textarea", rows: 3, hint: "Posted to its timeline on the public page." }),
      field({ label: "Name", name: "name", value: m.name, autocomplete: "off" }),
      windowFields(m, { startEditable: scheduled }),
      running ? null : servicesField(app, m.service_ids),
      scheduled ? field({ label: "Start it at the start time", name: "auto_start", type: "checkbox", value: m.auto_start }) : null,
      field({ label: "Complete it at the end time", name: "auto_complete", type: "checkbox", value: m.auto_complete }),
    ],
    async submit(f) {
      const body = {};
      if (value(f, "status")) body.status = value(f, "status");
      if (value(f, "body").trim()) body.body = value(f, "body");
      if (value(f, "name") !== m.name) body.name = value(f, "name");
      if (scheduled && value(f, "scheduled_for") !== localInput(m.scheduled_for)) body.scheduled_for = fromLocalInput(value(f, "scheduled_for"));
      if (value(f, "scheduled_until") !== localInput(m.scheduled_until)) body.scheduled_until = fromLocalInput(value(f, "scheduled_until"));
      if (!running) {
        const services = picked(f);
        if (services.join() !== m.service_ids.join()) body.services = services;
      }
      if (scheduled && value(f, "auto_start") !== m.auto_start) body.auto_start = value(f, "auto_start");
      if (value(f, "auto_complete") !== m.auto_complete) body.auto_complete = value(f, "auto_complete");
      if (!Object.keys(body).length) return;
      const saved = await app.api("PATCH", `/maintenances/${encodeURIComponent(m.id)}`, body);
      app.upsert("maintenances", saved);
      say(`Maintenance “${saved.name}” updated.`);
    },
  });
}

function cancelDialog(app, m) {
  formDialog(`Cancel “${m.name}”?`, {
    submitLabel: "Cancel maintenance",
    closeLabel: "Keep it",
    danger: true,
    intro: "It will not start; the public page says it was cancelled.",
    fields: [field({ label: "Message", name: "body", type: "textarea", rows: 3, hint: "Left empty: “This scheduled maintenance has been cancelled.”" })],
    async submit(f) {
      const words = value(f, "body");
      const saved = await app.api("POST", `/maintenances/${encodeURIComponent(m.id)}/cancel`, words.trim() ? { body: words } : undefined);
      app.upsert("maintenances", saved);
      say(`Maintenance “${saved.name}” cancelled.`);
    },
  });
}
