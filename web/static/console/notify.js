// Notifications: the organization's channels (a signed webhook, a
// Slack-format webhook, email), each with a test message, its recent
// deliveries (attempts, last error, next try, "Retry now") and the events it
// gets; and the public's subscribers (search, remove, export as CSV, counts)
// with what the public page lets them subscribe with. Channels and removals
// are followed live (change.noted); deliveries and sign-ups have a Refresh.

import * as session from "../session.js";
import { ApiError } from "../session.js";
import { h, add, clear, redraw, field, fieldset, form, onSubmit, actions, formDialog, say, explain, value, time, when, tag, uid, secretBox, reloader, table, td, failed } from "./dom.js";

const enc = encodeURIComponent;

// server/notify/records.py: NotificationEvent, with what each means.
const EVENTS = [
  ["incident.created", "Incident opened"],
  ["incident.updated", "Incident updated"],
  ["incident.resolved", "Incident resolved"],
  ["maintenance.scheduled", "Maintenance scheduled"],
  ["maintenance.started", "Maintenance started"],
  ["maintenance.updated", "Maintenance updated"],
  ["maintenance.completed", "Maintenance completed"],
  ["maintenance.cancelled", "Maintenance cancelled"],
  ["monitor.down", "Monitor down"],
  ["monitor.degraded", "Monitor degraded"],
  ["monitor.up", "Monitor back up"],
  ["monitor.flapping", "Monitor flapping"],
  ["monitor.stable", "Monitor stable again"],
  ["probe.offline", "Probe offline"],
  ["probe.online", "Probe back online"],
];
const EVENT_WORDS = Object.fromEntries([...EVENTS, ["test", "Test message"], ["subscription.confirm", "Confirmation"]]);

const KINDS = {
  webhook: ["Signed webhook", "A JSON POST signed with the channel's secret (HMAC-SHA256)."],
  slack: ["Slack-format webhook", "A readable message for Slack (or Mattermost, Rocket.Chat, Discord's /slack)."],
  email: ["Email", "To fixed addresses; needs the server's mail settings."],
};

const DELIVERY = { pending: "Pending", sent: "Sent", failed: "Failed" };

function loading(box) {
  clear(box);
  box.append(h("p", { class: "muted", role: "status" }, "Loading…"));
}

// -- channels --------------------------------------------------------------------------

function eventsField(chosen) {
  const picked = new Set(chosen || EVENTS.map(([e]) => e));
  const boxes = EVENTS.map(([e, words]) => {
    const id = uid("ev");
    return h("div", { class: "check" }, h("input", { type: "checkbox", id, value: e, "data-event": e, checked: picked.has(e) }), h("label", { for: id }, words));
  });
  return fieldset("Events it gets", "events", h("div", { class: "checks" }, boxes), "Subscribers always get incidents and maintenances; monitors and probes are for your channels only.");
}

function chosenEvents(f) {
  return [...f.querySelectorAll("input[data-event]")].filter((i) => i.checked).map((i) => i.value);
}

// The config fields of a kind: a URL, or addresses one a line.
function configFields(kind, config = {}) {
  if (kind === "email") {
    return field({ label: "Addresses", name: "config.to", type: "textarea", rows: 3, value: (config.to || []).join("\n"), hint: "One a line; up to 50.", required: true });
  }
  const hint = kind === "webhook" ? "Where to POST the signed JSON. Redirects are not followed." : "The incoming webhook's URL (https://hooks.slack.com/services/…).";
  return field({ label: "URL", name: "config.url", type: "url", value: config.url || "", hint, required: true, autocomplete: "off" });
}

function configOf(kind, f) {
  if (kind === "email") return { to: value(f, "config.to").split(/[\s,;]+/).filter(Boolean) };
  return { url: value(f, "config.url").trim() };
}

function summary(c) {
  if (c.kind === "email") return (c.config.to || []).join(", ");
  return c.config.url || "";
}

function eventsSummary(events) {
  if (events.length === EVENTS.length) return "All events";
  return events.map((e) => EVENT_WORDS[e] || e).join(", ");
}

function deliveryResult(d) {
  if (d.status === "sent") return `Delivered${d.last_status_code ? ` (answer ${d.last_status_code})` : ""}.`;
  const error = d.last_error ? ` ${d.last_error}.` : "";
  if (d.status === "failed") return `Not delivered: given up.${error}`;
  if (!d.attempts) return "Queued: not tried yet.";
  return `Not delivered yet.${error} Next try ${d.next_attempt_at ? when(d.next_attempt_at) : "soon"}.`;
}

export function notificationsView(app, main) {
  const box = h("div", { class: "channels", id: "channels" });
  const shown = h("div", { class: "once", id: "channel-secret" });
  let channels = null;
  const deliveries = new Map(); // channel id -> [delivery] | Error
  const results = new Map(); // channel id -> the last test's words

  add(main, [
    h(
      "div",
      { class: "view-head" },
      h("h1", {}, "Notifications"),
      h("div", { class: "head-actions" }, h("button", { type: "button", "data-key": "refresh", onclick: () => { reloadChannels(); } }, "Refresh"), h("button", { type: "button", class: "primary", "data-key": "new-channel", onclick: newChannel }, "New channel")),
    ),
    h("p", { class: "lede muted" }, "Where incidents, maintenances and monitors are told as they happen: your channels, each with the events it wants. Each message is retried until it is accepted or given up on. The public's subscribers are on the Subscribers page."),
    shown,
    box,
  ]);

  async function loadChannels() {
    try {
      channels = (await app.api("GET", "/channels")).data;
      await Promise.all(channels.map((c) => loadDeliveries(c.id, false)));
      draw();
    } catch (error) {
      failed(box, "Channels", error, reloadChannels);
    }
  }
  const reloadChannels = reloader(loadChannels);

  async function loadDeliveries(id, andDraw = true) {
    try {
      deliveries.set(id, (await app.api("GET", `/deliveries?channel=${enc(id)}&limit=5`)).data);
    } catch (error) {
      deliveries.set(id, error);
    }
    if (andDraw) draw();
  }

  function draw() {
    if (!channels) return;
    redraw(box, () => (channels.length ? channels.map(card) : h("p", { class: "empty" }, "No channels yet. Add one to be told of incidents, maintenances and monitors.")));
  }

  function card(c) {
    const headingId = `channel-${c.id}-h`;
    const result = results.get(c.id);
    return h(
      "article",
      { class: ["card", "channel", c.disabled && "disabled"], id: `channel-${c.id}`, "aria-labelledby": headingId, "data-channel": c.name },
      h(
        "div",
        { class: "card-head" },
        h("h2", { class: "channel-name", id: headingId }, c.name),
        h("p", { class: "tags" }, tag(KINDS[c.kind][0]), c.disabled ? tag("Disabled", "off") : tag("Enabled", "on")),
      ),
      h("p", { class: "target" }, h("span", { class: "vh" }, "Sends to "), h("code", {}, summary(c))),
      h("p", { class: "events muted" }, h("strong", {}, "Gets: "), eventsSummary(c.events)),
      result ? h("p", { class: ["test-result", result.ok ? "ok" : "bad"], role: "status" }, result.text) : null,
      h(
        "div",
        { class: "card-actions" },
        h("button", { type: "button", "data-key": `test-${c.id}`, onclick: (e) => sendTest(c, e.currentTarget) }, "Send test", h("span", { class: "vh" }, ` to ${c.name}`)),
        h("button", { type: "button", "data-key": `edit-${c.id}`, onclick: () => editChannel(c) }, "Edit", h("span", { class: "vh" }, ` ${c.name}`)),
        h("button", { type: "button", "data-key": `toggle-${c.id}`, onclick: () => toggle(c) }, c.disabled ? "Enable" : "Disable", h("span", { class: "vh" }, ` ${c.name}`)),
        h("button", { type: "button", class: "danger", "data-key": `delete-${c.id}`, onclick: () => remove(c) }, "Delete", h("span", { class: "vh" }, ` ${c.name}`)),
      ),
      h("h3", { class: "deliveries-h" }, "Recent deliveries"),
      deliveriesOf(c),
    );
  }

  function deliveriesOf(c) {
    const found = deliveries.get(c.id);
    if (found instanceof Error) return h("p", { class: "error-text" }, `Deliveries could not be loaded. ${explain(found)}`);
    if (!found) return h("p", { class: "muted" }, "Loading…");
    return table(
      `Recent deliveries to ${c.name}`,
      ["When", "Event", "Status", "Attempts", "Last error", "Next try", ""],
      found.map((d) =>
        h(
          "tr",
          { "data-delivery": d.id, "data-status": d.status },
          td("When", time(d.created_at)),
          td("Event", EVENT_WORDS[d.event] || d.event),
          td("Status", h("span", { class: ["delivery-status", `ds-${d.status}`] }, DELIVERY[d.status] || d.status)),
          td("Attempts", String(d.attempts)),
          td("Last error", d.last_error ? h("span", { class: "details" }, d.last_error) : ""),
          td("Next try", d.status === "pending" && d.next_attempt_at ? time(d.next_attempt_at) : ""),
          h("td", { class: "actions-cell" }, d.status === "sent" ? null : h("button", { type: "button", "data-key": `retry-${d.id}`, onclick: (e) => retry(c, d, e.currentTarget) }, "Retry now", h("span", { class: "vh" }, ` the ${EVENT_WORDS[d.event] || d.event} to ${c.name}`))),
        ),
      ),
      "Nothing sent yet.",
      "deliveries",
    );
  }

  async function busy(button, work) {
    if (button) {
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
    }
    try {
      await work();
    } finally {
      if (button && button.isConnected) {
        button.disabled = false;
        button.removeAttribute("aria-busy");
      }
    }
  }

  function sendTest(c, button) {
    return busy(button, async () => {
      try {
        const d = await app.api("POST", `/channels/${enc(c.id)}/test`);
        const ok = d.status === "sent";
        results.set(c.id, { ok, text: `Test message: ${deliveryResult(d)}` });
        say(ok ? `The test reached ${c.name}.` : `The test did not reach ${c.name}.`, ok ? "ok" : "error");
      } catch (error) {
        results.set(c.id, { ok: false, text: `Test message: ${explain(error)}` });
        say(`The test was not sent. ${explain(error)}`, "error");
      }
      await loadDeliveries(c.id);
    });
  }

  function retry(c, d, button) {
    return busy(button, async () => {
      try {
        const after = await app.api("POST", `/deliveries/${enc(d.id)}/retry`);
        say(`${EVENT_WORDS[after.event] || after.event} to ${c.name}: ${deliveryResult(after)}`, after.status === "sent" ? "ok" : "error");
      } catch (error) {
        say(`It was not tried again. ${explain(error)}`, "error");
      }
      await loadDeliveries(c.id);
    });
  }

  async function toggle(c) {
    try {
      const changed = await app.api("PATCH", `/channels/${enc(c.id)}`, { disabled: !c.disabled });
      Object.assign(c, changed);
      say(changed.disabled ? `${c.name} is disabled: it gets nothing (but tests) until enabled.` : `${c.name} is enabled.`);
      draw();
    } catch (error) {
      say(`${c.name} was not changed. ${explain(error)}`, "error");
    }
  }

  function remove(c) {
    formDialog(`Delete “${c.name}”?`, {
      submitLabel: "Delete channel",
      danger: true,
      intro: "It gets nothing more; its deliveries, those still waiting too, are deleted with it.",
      fields: [],
      async submit() {
        await app.api("DELETE", `/channels/${enc(c.id)}`);
        say(`Channel “${c.name}” deleted.`);
        reloadChannels();
      },
    });
  }

  function newChannel() {
    let kind = "webhook";
    const configBox = h("div", { class: "config-box" }, configFields(kind));
    const kindSelect = field({
      label: "Kind",
      name: "kind",
      type: "select",
      value: kind,
      options: Object.entries(KINDS).map(([k, [words]]) => [k, words]),
      hint: KINDS[kind][1],
    });
    kindSelect.querySelector("select").addEventListener("change", (e) => {
      kind = e.target.value;
      kindSelect.querySelector(".hint").textContent = KINDS[kind][1];
      clear(configBox);
      configBox.append(configFields(kind));
    });
    formDialog("New channel", {
      wide: true,
      submitLabel: "Create channel",
      fields: [kindSelect, field({ label: "Name", name: "name", required: true, autocomplete: "off", hint: "Unique here, e.g. “On-call pager”." }), configBox, eventsField(null)],
      async submit(f) {
        const made = await app.api("POST", "/channels", { kind, name: value(f, "name"), config: configOf(kind, f), events: chosenEvents(f) });
        clear(shown);
        if (made.secret) {
          shown.append(secretBox(`Signing secret of “${made.name}”`, made.secret, "Copy it now: it is shown only this once. Check each message's X-Switchboard-Signature with it (docs/notifications.md)."));
        }
        say(`Channel “${made.name}” created. Send it a test.`);
        await reloadChannels();
        const focus = made.secret ? shown.querySelector(".secret-value") : document.querySelector(`[data-key="test-${CSS.escape(made.id)}"]`);
        if (focus) focus.focus();
      },
    });
  }

  function editChannel(c) {
    formDialog(`Edit “${c.name}”`, {
      wide: true,
      submitLabel: "Save",
      intro: `${KINDS[c.kind][0]}: the kind cannot change.${c.kind === "webhook" ? " A new URL keeps the signing secret." : ""}`,
      fields: [field({ label: "Name", name: "name", value: c.name, required: true, autocomplete: "off" }), configFields(c.kind, c.config), eventsField(c.events), field({ label: "Enabled", name: "enabled", type: "checkbox", value: !c.disabled, hint: "A disabled channel keeps its settings and gets nothing but tests." })],
      async submit(f) {
        const changed = await app.api("PATCH", `/channels/${enc(c.id)}`, { name: value(f, "name"), config: configOf(c.kind, f), events: chosenEvents(f), disabled: !value(f, "enabled") });
        Object.assign(c, changed);
        say(`Channel “${changed.name}” saved.`);
        draw();
      },
    });
  }

  loading(box);
  reloadChannels();
  return {
    event(e) {
      if (e.name === "change.noted" && /^channel\./.test(e.data.action)) reloadChannels();
    },
  };
}

// -- subscribers -----------------------------------------------------------------------

const SUB_KINDS = [
  ["email", "Email"],
  ["webhook", "Webhook"],
];
const PAGE = 50;

async function download(path, filename) {
  const bearer = await session.token();
  const response = await fetch(path, { headers: { Authorization: `Bearer ${bearer}` } });
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    throw new ApiError(response.status, (body && body.error) || {});
  }
  const url = URL.createObjectURL(await response.blob());
  const a = h("a", { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function subscribersView(app, main) {
  const countsBox = h("div", { class: "counts", id: "subscriber-counts", "aria-live": "polite" });
  const box = h("div", { class: "list-box", id: "subscribers" });
  const more = h("div", { class: "more" });
  let rows = [];
  let next = null;
  let query = { q: "", kind: "" };
  let org = null;

  // What the public page offers.
  const kindsBox = h("div", { id: "subscription-settings" });

  const search = form("inline-form search-form card", [
    h("h2", { class: "vh", id: "search-h" }, "Search"),
    h(
      "div",
      { class: "field-row" },
      field({ label: "Address contains", name: "q", type: "search", autocomplete: "off" }),
      field({ label: "Kind", name: "kind", type: "select", value: "", options: [["", "All kinds"], ...SUB_KINDS] }),
    ),
    actions(
      h("button", { type: "submit", class: "primary" }, "Search"),
      h("button", { type: "button", "data-key": "export", onclick: (e) => exportCsv(e.currentTarget) }, "Export CSV"),
      h("button", { type: "button", "data-key": "refresh", onclick: () => { reloadAll(); } }, "Refresh"),
    ),
  ]);
  onSubmit(search, async () => {
    query = { q: value(search, "q").trim(), kind: value(search, "kind") };
    await reloadList();
  });

  add(main, [
    h("div", { class: "view-head" }, h("h1", {}, "Subscribers")),
    h("p", { class: "lede muted" }, "People and programs that signed up on the public page for incident and maintenance updates. They confirm by a link before getting anything, and leave by the link in every message."),
    countsBox,
    h("section", { "aria-labelledby": "subscription-h" }, h("h2", { id: "subscription-h" }, "Sign-up on the public page"), kindsBox),
    h("section", { "aria-labelledby": "subscribers-h" }, h("h2", { id: "subscribers-h" }, "Subscribers"), search, box, more),
  ]);

  function path(extra = "") {
    const params = new URLSearchParams();
    if (query.q) params.set("q", query.q);
    if (query.kind) params.set("kind", query.kind);
    const text = params.toString();
    return text ? `${text}${extra ? `&${extra}` : ""}` : extra;
  }

  async function loadList() {
    try {
      const answer = await app.api("GET", `/subscribers?${path(`limit=${PAGE}`)}`);
      rows = answer.data;
      next = answer.next;
      drawList();
    } catch (error) {
      failed(box, "Subscribers", error, reloadList);
    }
  }
  const reloadList = reloader(loadList);

  async function loadMore(button) {
    button.disabled = true;
    try {
      const answer = await app.api("GET", next);
      rows = rows.concat(answer.data);
      next = answer.next;
    } catch (error) {
      say(`More subscribers could not be loaded. ${explain(error)}`, "error");
    }
    drawList();
  }

  async function loadCounts() {
    try {
      drawCounts(await app.api("GET", "/subscribers/counts"));
    } catch (error) {
      failed(countsBox, "The counts", error, reloadCounts);
    }
  }
  const reloadCounts = reloader(loadCounts);

  async function loadOrg() {
    try {
      org = await app.api("GET", "");
      drawKinds();
    } catch (error) {
      failed(kindsBox, "The settings", error, loadOrg);
    }
  }

  function reloadAll() {
    reloadList();
    reloadCounts();
  }

  function drawCounts(counts) {
    const total = (k) => counts[k].confirmed + counts[k].unconfirmed;
    redraw(countsBox, () =>
      h(
        "dl",
        { class: "count-list" },
        SUB_KINDS.map(([k, words]) =>
          h("div", { class: "count-item", "data-kind": k }, h("dt", {}, words), h("dd", {}, h("strong", {}, String(counts[k].confirmed)), " confirmed", counts[k].unconfirmed ? `, ${counts[k].unconfirmed} waiting to confirm` : "", h("span", { class: "vh" }, `, ${total(k)} in all`))),
        ),
      ),
    );
  }

  function drawList() {
    redraw(box, () =>
      table(
        "Subscribers",
        ["Address", "Kind", "Confirmed", "Signed up", ""],
        rows.map((s) =>
          h(
            "tr",
            { "data-subscriber": s.address },
            h("th", { scope: "row", "data-label": "Address" }, h("span", { class: "address" }, s.address)),
            td("Kind", s.kind === "email" ? "Email" : "Webhook"),
            td("Confirmed", s.confirmed ? time(s.confirmed_at) : h("span", { class: "muted" }, "Waiting")),
            td("Signed up", time(s.created_at)),
            h("td", { class: "actions-cell" }, h("button", { type: "button", class: "danger", "data-key": `remove-${s.id}`, onclick: () => remove(s) }, "Remove", h("span", { class: "vh" }, ` ${s.address}`))),
          ),
        ),
        query.q || query.kind ? "No subscriber matches." : "Nobody has subscribed yet.",
        "subscribers-table",
      ),
    );
    clear(more);
    if (next) more.append(h("button", { type: "button", "data-key": "more", onclick: (e) => loadMore(e.currentTarget) }, "Show more"));
  }

  function drawKinds() {
    const chosen = new Set(org.subscriptions);
    const f = form("kinds-form", [
      fieldset(
        "The public may subscribe with",
        "subscriptions",
        h(
          "div",
          { class: "checks" },
          SUB_KINDS.map(([k, words]) => {
            const id = uid("kind");
            return h("div", { class: "check" }, h("input", { type: "checkbox", id, value: k, "data-kind": k, checked: chosen.has(k) }), h("label", { for: id }, words));
          }),
        ),
        "Email needs the server's mail settings: without them the page shows no sign-up form. Those already subscribed stay.",
      ),
      actions(h("button", { type: "submit", class: "primary" }, "Save")),
    ]);
    onSubmit(f, async () => {
      const kinds = [...f.querySelectorAll("input[data-kind]")].filter((i) => i.checked).map((i) => i.value);
      org = await app.api("PATCH", "", { subscriptions: kinds });
      say(kinds.length ? `The public page offers sign-up by ${kinds.join(" and ")}.` : "The public page offers the feeds only.");
    });
    redraw(kindsBox, () => f);
  }

  function remove(s) {
    formDialog(`Remove ${s.address}?`, {
      submitLabel: "Remove subscriber",
      danger: true,
      intro: "Nothing more is sent to it, including what is still queued. They may sign up again.",
      fields: [],
      async submit() {
        await app.api("DELETE", `/subscribers/${enc(s.id)}`);
        say(`${s.address} was removed.`);
        reloadAll();
      },
    });
  }

  async function exportCsv(button) {
    button.disabled = true;
    try {
      const q = path();
      await download(`/api/v1/orgs/${enc(app.org)}/subscribers.csv${q ? `?${q}` : ""}`, `${app.org}-subscribers.csv`);
      say("The CSV is downloaded.");
    } catch (error) {
      say(`The CSV could not be made. ${explain(error)}`, "error");
    } finally {
      button.disabled = false;
    }
  }

  loading(box);
  loading(countsBox);
  loading(kindsBox);
  reloadAll();
  loadOrg();
  return {
    event(e) {
      if (e.name === "change.noted" && /^subscriber\./.test(e.data.action)) reloadAll();
      if (e.name === "org.updated" && org && !kindsBox.contains(document.activeElement)) {
        org = e.data.org;
        drawKinds();
      }
    },
  };
}
