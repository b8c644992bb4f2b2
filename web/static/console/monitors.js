// Monitors: the list. Each monitor's verdict is live (the org topic carries
// every monitor.* event); what the regions see now and their last results
// come from the REST view, read again when an event says the monitor moved
// and every half minute; uptime and the last day's response times from
// GET .../uptime. /admin/<org>/monitors/<id> is a monitor's own page.

import { h, add, redraw, say, explain, time } from "./dom.js";
import { loading } from "./services.js";
import { ms, percent, sparkline } from "./charts.js";
import { KINDS, target, monitorDialog, deleteMonitorDialog, pushUrlBox } from "./monitor_form.js";
import { monitorPage } from "./monitor_page.js";

export const VERDICT = {
  up: ["✓", "Up"],
  degraded: ["▲", "Degraded"],
  down: ["✕", "Down"],
  unknown: ["?", "Unknown"],
  paused: ["⏸", "Paused"],
};
const REGION_WORDS = { up: "up", degraded: "degraded", down: "down", unknown: "settling", stale: "stale" };
const REFRESH_MS = 30_000; // the regions' last results
const GLANCE_MS = 60_000; // uptime and the sparklines

export const byName = (a, b) => a.name.localeCompare(b.name, undefined, { sensitivity: "base" });

export function verdictOf(m) {
  return m.paused ? "paused" : m.verdict;
}

export function verdictBadge(m) {
  const v = verdictOf(m);
  const [icon, word] = VERDICT[v] || ["", v];
  return h("span", { class: ["verdict", `v-${v}`] }, h("span", { class: "icon", "aria-hidden": "true" }, icon), ` ${word}`);
}

// Each region's state: what the REST view said, moved by what the topic says
// since (a region named failing is failing, one no longer named is not).
export function regionStates(m, view) {
  const states = new Map(((view && view.region_states) || []).map((r) => [r.region, { ...r }]));
  const failing = new Set(m.failing_regions || []);
  for (const name of failing) {
    const r = states.get(name) || { region: name, live: true, last: null };
    if (r.state !== "down" && r.state !== "degraded") r.state = m.verdict === "degraded" ? "degraded" : "down";
    states.set(name, r);
  }
  for (const r of states.values()) if (!failing.has(r.region) && (r.state === "down" || r.state === "degraded") && r.live) r.state = "up";
  return [...states.values()].sort((a, b) => (a.region < b.region ? -1 : 1));
}

export function regionChips(m, view) {
  if (m.paused) return h("span", { class: "muted" }, "Paused");
  const regions = regionStates(m, view);
  if (!regions.length) return h("span", { class: "muted" }, "No result yet");
  return h(
    "ul",
    { class: "region-chips" },
    regions.map((r) => {
      const state = r.live === false ? "stale" : r.state;
      return h("li", { class: ["chip", `r-${state}`], title: r.last ? `Last result ${r.last.outcome}` : null }, r.region, h("span", { class: "chip-state" }, ` ${REGION_WORDS[state] || state}`));
    }),
  );
}

// The most recent result of any region.
export function lastResult(view) {
  let last = null;
  for (const r of (view && view.region_states) || []) if (r.last && (!last || r.last.at > last.at)) last = { ...r.last, region: r.region };
  return last;
}

export function monitorsView(app, main, rest) {
  if (rest.length) return monitorPage(app, main, rest[0]);
  const canChange = app.can("responder");
  const views = new Map(); // id -> GET .../monitors view (region_states...)
  const glance = new Map(); // id -> {uptime, response_times}
  const box = h("div", { class: "list-box" });
  const once = h("div", { class: "once" });
  let error = null;
  let listed = false;

  add(main, [
    h(
      "div",
      { class: "view-head" },
      h("h1", {}, "Monitors"),
      canChange ? h("button", { type: "button", class: "primary", "data-key": "new-monitor", onclick: () => monitorDialog(app, null, { made }) }, "New monitor") : null,
    ),
    h("p", { class: "lede muted" }, "Checks of your endpoints from each region, live. A monitor is down when a quorum of its regions agrees; what it does then is its own setting."),
    once,
    box,
  ]);

  function made(created) {
    views.set(created.id, created);
    if (created.heartbeat_token) add(redrawOnce(), [pushUrlBox(created, created.heartbeat_token)]);
  }
  function redrawOnce() {
    while (once.firstChild) once.firstChild.remove();
    return once;
  }

  async function loadAll() {
    try {
      let path = "/monitors?limit=200";
      while (path) {
        const page = await app.api("GET", path);
        for (const m of page.data) {
          views.set(m.id, m);
          app.upsert("monitors", m);
        }
        path = page.page.next;
      }
      error = null;
    } catch (e) {
      error = explain(e);
    }
    listed = true;
    update();
  }

  async function loadGlance() {
    try {
      const answer = await app.api("GET", "/uptime");
      glance.clear();
      for (const g of answer.data) glance.set(g.monitor, g);
      update();
    } catch (e) {
      return; // the figures stay as they were; the next round tries again
    }
  }

  // A monitor an event moved: its view again, once for each of its versions.
  const asked = new Map(); // id -> the updated_at its view was asked for
  async function refetch(m) {
    if (asked.get(m.id) === m.updated_at) return;
    asked.set(m.id, m.updated_at);
    try {
      views.set(m.id, await app.api("GET", `/monitors/${encodeURIComponent(m.id)}`));
    } catch (e) {
      return; // deleted meanwhile, or unreachable: the topic's copy is shown
    }
    update();
  }

  let glanceSoon = null;
  const verdicts = new Map();
  function update() {
    let moved = false;
    for (const m of app.data.monitors.values()) {
      const view = views.get(m.id);
      if (listed && (!view || view.updated_at < m.updated_at)) refetch(m);
      if (verdicts.has(m.id) && verdicts.get(m.id) !== m.verdict) moved = true;
      verdicts.set(m.id, m.verdict);
    }
    if (moved && !glanceSoon) glanceSoon = setTimeout(() => { glanceSoon = null; loadGlance(); }, 2_000);
    redraw(box, () => table(app, views, glance, error, listed));
  }

  const timers = [setInterval(loadAll, REFRESH_MS), setInterval(loadGlance, GLANCE_MS)];
  update();
  loadAll();
  loadGlance();
  return {
    update,
    destroy() {
      for (const t of timers) clearInterval(t);
      clearTimeout(glanceSoon);
    },
  };
}

function table(app, views, glance, error, listed) {
  if (!app.data.ready) return loading(app);
  const monitors = [...app.data.monitors.values()].sort(byName);
  const problem = error ? h("p", { class: "notice error-text", role: "alert" }, `The monitors' latest results could not be loaded. ${error}`) : null;
  if (!monitors.length) return [problem, h("p", { class: "empty" }, listed ? "No monitors yet." : "")];
  const canChange = app.can("responder");
  return [
    problem,
    h(
      "table",
      { class: "grid monitors-table" },
      h("caption", { class: "vh" }, "Monitors, by name"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Monitor"),
          h("th", { scope: "col" }, "Verdict"),
          h("th", { scope: "col" }, "Regions"),
          h("th", { scope: "col" }, "Last answer"),
          h("th", { scope: "col" }, "Uptime"),
          h("th", { scope: "col" }, "Last 24 h"),
          canChange ? h("th", { scope: "col", class: "actions-col" }, h("span", { class: "vh" }, "Actions")) : null,
        ),
      ),
      h("tbody", {}, monitors.map((m) => row(app, m, views.get(m.id), glance.get(m.id)))),
    ),
  ];
}

function row(app, m, view, figures) {
  const href = `/admin/${encodeURIComponent(app.org)}/monitors/${encodeURIComponent(m.id)}`;
  const service = app.data.services.get(m.service_id);
  const last = lastResult(view);
  const uptime = figures ? figures.uptime : {};
  return h(
    "tr",
    { id: `monitor-${m.id}`, class: ["monitor-row", `v-${verdictOf(m)}`], "data-name": m.name },
    h(
      "th",
      { scope: "row", class: "monitor-cell" },
      h("a", { href, "data-route": "", class: "name" }, m.name),
      h("span", { class: "desc" }, `${KINDS[m.kind].split(" (")[0]} · ${target(m)}`),
      service ? h("span", { class: "desc" }, `Watches ${service.name}`) : null,
      m.flapping ? h("span", { class: "notes" }, "Flapping") : null,
    ),
    h("td", { class: "verdict-cell", "data-label": "Verdict" }, verdictBadge(m)),
    h("td", { class: "regions-cell", "data-label": "Regions" }, regionChips(m, view)),
    h(
      "td",
      { class: "latency-cell", "data-label": "Last answer" },
      last ? [h("span", { class: "latency" }, ms(last.latency_ms)), h("span", { class: "desc" }, last.region, " · ", time(last.at))] : "—",
    ),
    h("td", { class: "uptime-cell", "data-label": "Uptime" }, h("span", { class: "figure" }, "24 h ", h("strong", {}, percent(uptime["24h"]))), h("span", { class: "figure" }, "30 d ", h("strong", {}, percent(uptime["30d"])))),
    h("td", { class: "spark-cell", "data-label": "Last 24 h" }, sparkline(figures ? figures.response_times : [])),
    app.can("responder") ? h("td", { class: "actions-cell" }, actionButtons(app, m, { compact: true })) : null,
  );
}

// Check now, pause or resume, edit, delete: for the list and the monitor's page.
export function actionButtons(app, m, { compact = false, deleted } = {}) {
  const name = h("span", { class: "vh" }, ` ${m.name}`);
  return h(
    "span",
    { class: ["monitor-actions", compact && "compact"] },
    m.kind !== "heartbeat" ? h("button", { type: "button", "data-key": `check-${m.id}`, onclick: (e) => checkNow(app, m, e.currentTarget) }, "Check now", name.cloneNode(true)) : null,
    h("button", { type: "button", "data-key": `pause-${m.id}`, "data-alt-key": `pause-${m.id}`, onclick: () => setPaused(app, m, !m.paused) }, m.paused ? "Resume" : "Pause", name.cloneNode(true)),
    h("button", { type: "button", "data-key": `edit-${m.id}`, onclick: () => monitorDialog(app, m) }, "Edit", name.cloneNode(true)),
    h("button", { type: "button", class: "danger", "data-key": `delete-${m.id}`, onclick: () => deleteMonitorDialog(app, m, { deleted }) }, "Delete", name),
  );
}

async function checkNow(app, m, button) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    const r = await app.api("POST", `/monitors/${encodeURIComponent(m.id)}/check`);
    const how = r.outcome === "up" ? `up in ${ms(r.latency_ms)}` : `${r.outcome}${r.error ? `: ${r.error}` : ""}`;
    say(`${m.name} checked from ${r.region}: ${how}.`);
  } catch (error) {
    say(`${m.name} was not checked. ${explain(error)}`, "error");
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

async function setPaused(app, m, paused) {
  try {
    const saved = await app.api("PATCH", `/monitors/${encodeURIComponent(m.id)}`, { paused });
    app.upsert("monitors", saved);
    say(paused ? `${m.name} is paused: it is not checked until it is resumed.` : `${m.name} is checked again.`);
  } catch (error) {
    say(`${m.name} was not ${paused ? "paused" : "resumed"}. ${explain(error)}`, "error");
  }
}
