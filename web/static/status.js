// The public status page, live. The server drew the page and embedded the
// public snapshot it drew it from, with that snapshot's seq; this script
// subscribes to status:<org> with `since` = that seq, applies each event to
// the snapshot and redraws the sections with the same markup as the server's
// templates (web/templates/_status.html), words from the embedded labels.
// The bars' days open popovers (days.js); a service's response-time chart is
// drawn from the server's view of it (server/rest/charts.py).

import { Live } from "./live.js";
import * as days from "./days.js";

const data = JSON.parse(document.getElementById("page-data").textContent);
const L = data.labels;
const ACTIVE = new Set(["investigating", "identified", "monitoring"]);
const OVER = new Set(["completed", "cancelled"]);
const DAY_ORDER = ["major_outage", "partial_outage", "degraded_performance", "under_maintenance", "operational"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

let snap = data.snapshot;
const past = new Map(data.past.map((i) => [i.id, i]));

// -- formats (server/rest/render.py) -----------------------------------------

const esc = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const pad = (n) => String(n).padStart(2, "0");

// The organization's time zone (its settings); times are shown in it.
let zone = data.time_zone || "UTC";

// `UTC`, `UTC+1`, `UTC+5:30`, `UTC−3` (server/domain/looks.py: zone_label).
export function zoneLabel(minutes) {
  if (!minutes) return "UTC";
  const abs = Math.abs(minutes);
  const rest = abs % 60;
  return `UTC${minutes > 0 ? "+" : "−"}${Math.floor(abs / 60)}${rest ? `:${pad(rest)}` : ""}`;
}

export function when(iso, timeZone = zone) {
  if (!iso) return "";
  const t = new Date(iso);
  if (timeZone === "UTC") return `${MONTHS[t.getUTCMonth()]} ${t.getUTCDate()}, ${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())} UTC`;
  const options = { timeZone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric" };
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-US", options).formatToParts(t).map((x) => [x.type, Number(x.value)]));
  const minute = Math.floor(t.getTime() / 60000) * 60000;
  const offset = Math.round((Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute) - minute) / 60000);
  return `${MONTHS[p.month - 1]} ${p.day}, ${pad(p.hour)}:${pad(p.minute)} ${zoneLabel(offset)}`;
}

export function day(t) {
  return `${MONTHS[t.getUTCMonth()]} ${t.getUTCDate()}, ${t.getUTCFullYear()}`;
}

const visible = (s) => !(s.only_show_if_degraded && s.status === "operational");
const named = (ids, names) => ids.filter((id) => id in names).map((id) => names[id]).join(", ");
const names = () => Object.fromEntries(snap.services.map((s) => [s.id, s.name]));

// -- markup (web/templates/_status.html) --------------------------------------

function banner(status) {
  return `<div class="banner s-${status.indicator}"><span class="icon" aria-hidden="true">${L.indicator_icon[status.indicator]}</span><p class="banner-text">${esc(status.description)}</p></div>`;
}

function updateList(updates) {
  const items = [...updates].reverse().map((u) =>
    `<li><p><strong>${L.progress[u.status]}</strong>${u.body ? ` <span class="body">${esc(u.body)}</span>` : ""}</p><p class="when"><time datetime="${u.created_at}">${when(u.created_at)}</time></p></li>`);
  return `<ol class="timeline">${items.join("")}</ol>`;
}

function incident(i, nameOf) {
  const ids = Object.keys(i.services);
  const affects = ids.length ? ` <span class="affects">Affects ${esc(named(ids, nameOf))}</span>` : "";
  return `<article class="incident impact-${i.impact}" id="incident-${i.id}"><h3 class="incident-name"><a href="${data.root}/incidents/${i.id}">${esc(i.name)}</a></h3><p class="meta"><span class="tag impact-${i.impact}">${L.impact[i.impact]}</span>${affects}</p>${updateList(i.updates)}</article>`;
}

function maintenance(m, nameOf) {
  const affects = m.service_ids.length ? ` <span class="affects">Affects ${esc(named(m.service_ids, nameOf))}</span>` : "";
  return `<article class="maintenance" id="maintenance-${m.id}"><h3 class="incident-name"><a href="${data.root}/maintenances/${m.id}">${esc(m.name)}</a></h3><p class="meta"><span class="tag progress-${m.status}">${L.progress[m.status]}</span> <span class="window"><time datetime="${m.scheduled_for}">${when(m.scheduled_for)}</time> to <time datetime="${m.scheduled_until}">${when(m.scheduled_until)}</time></span>${affects}</p>${updateList(m.updates)}</article>`;
}

function service(s) {
  const desc = s.description ? `<p class="desc">${esc(s.description)}</p>` : "";
  const regions = s.failing_regions && s.failing_regions.length ? `<p class="regions">Problems seen from ${esc(s.failing_regions.join(", "))}</p>` : "";
  return `<li class="service s-${s.status}" id="service-${s.id}"><div class="row"><span class="name">${esc(s.name)}</span><span class="state"><span class="icon" aria-hidden="true">${L.status_icon[s.status]}</span> ${L.status[s.status]}</span></div>${desc}${regions}</li>`;
}

export function layout(services, groups) {
  const blocks = [];
  const index = new Map();
  for (const s of services) {
    if (!visible(s)) continue;
    const gid = s.group_id;
    if (gid === null || gid === undefined || !(gid in groups)) blocks.push([null, [s]]);
    else if (index.has(gid)) blocks[index.get(gid)][1].push(s);
    else {
      index.set(gid, blocks.length);
      blocks.push([gid, [s]]);
    }
  }
  return blocks;
}

function components() {
  const groups = Object.fromEntries(snap.groups.map((g) => [g.id, g.name]));
  const parts = layout(snap.services, groups).map(([gid, members]) => gid
    ? `<li class="group" id="group-${gid}"><h3 class="group-name">${esc(groups[gid])}</h3><ul class="services">${members.map(service).join("")}</ul></li>`
    : service(members[0]));
  return `<ul class="services">${parts.join("")}</ul>`;
}

function historyDays() {
  const today = new Date(data.today + "T00:00:00Z");
  const byDay = new Map();
  const items = [...past.values()].sort((a, b) => (a.started_at < b.started_at ? 1 : -1));
  for (const i of items) {
    const key = day(new Date(i.started_at));
    if (!byDay.has(key)) byDay.set(key, []);
    byDay.get(key).push(i);
  }
  const out = [];
  for (let n = 0; n < data.recent_days; n++) {
    const d = day(new Date(today.getTime() - n * 86_400_000));
    const list = byDay.get(d) || [];
    const body = list.length ? list.map((i) => {
      const last = i.updates[i.updates.length - 1];
      return `<article class="past impact-${i.impact}" id="past-${i.id}"><h4 class="incident-name"><a href="${data.root}/incidents/${i.id}">${esc(i.name)}</a></h4><p>${esc(last.body || L.progress[last.status])}</p><p class="when">${L.progress[i.status]} <time datetime="${last.created_at}">${when(last.created_at)}</time></p></article>`;
    }).join("") : `<p class="muted">No incidents reported.</p>`;
    out.push(`<div class="day"><h3 class="day-name">${d}</h3>${body}</div>`);
  }
  return out.join("");
}

// -- the 90-day bars: kept from the server's drawing, today's cell moved live --

function dayLabel(dateText, status, uptime) {
  return status === null ? `${dateText}: no data` : `${dateText}: ${L.status[status]}, ${uptime} uptime`;
}

function newBar() {
  const today = new Date(data.today + "T00:00:00Z");
  const cells = [];
  for (let n = data.bar_days - 1; n >= 0; n--) {
    const t = new Date(today.getTime() - n * 86_400_000);
    const d = day(t);
    const iso = t.toISOString().slice(0, 10);
    cells.push(n ? `<span class="d s-none" title="${dayLabel(d, null)}" data-date="${iso}"></span>` : `<span class="d s-operational" title="${dayLabel(d, "operational", "100.00%")}" data-date="${iso}"></span>`);
  }
  const t = document.createElement("template");
  t.innerHTML = `<div class="bar" role="img" aria-label="Last ${data.bar_days} days: 100.00% uptime">${cells.join("")}</div><p class="bar-legend" aria-hidden="true"><span><span class="all-days">${data.bar_days} days ago</span><span class="phone-days">${data.phone_days} days ago</span></span><span class="uptime">100.00% uptime</span><span>Today</span></p>`;
  return [...t.content.childNodes];
}

// -- response times: the server's view of each chart (server/rest/charts.py) ----

const charts = new Map(); // service id -> the chart's view, once read

export function chart(sid, c) {
  const plot = c.path
    ? `<svg class="chart-plot" viewBox="0 0 ${c.width} ${c.height}" preserveAspectRatio="none" role="img" aria-label="${esc(c.summary)}"><line class="chart-top" x1="0" y1="${c.top}" x2="${c.width}" y2="${c.top}"/><line class="chart-base" x1="0" y1="${c.height}" x2="${c.width}" y2="${c.height}"/><path class="chart-line" d="${esc(c.path)}"/></svg><p class="chart-legend" aria-hidden="true"><span>${c.hours} hours ago</span><span>${esc(c.scale)}</span><span>Now</span></p>`
    : "";
  const t = document.createElement("template");
  t.innerHTML = `<figure class="chart" id="chart-${sid}"><figcaption class="chart-head"><span class="chart-title">Response time</span> <span class="chart-caption">${esc(c.caption)}</span></figcaption>${plot}</figure>`;
  return t.content.firstChild;
}

let chartsAsked = false;
// A service started showing its response times: read the charts, then draw.
async function readCharts() {
  if (chartsAsked) return;
  chartsAsked = true;
  try {
    const response = await fetch(`/status/${encodeURIComponent(data.org)}/response-times.json`, { cache: "no-cache" });
    if (response.ok) for (const [sid, c] of Object.entries((await response.json()).services)) charts.set(sid, c);
  } catch (e) {
    return; // shown at the next load of the page
  } finally {
    chartsAsked = false;
  }
  redrawSoon();
}

function markToday(bar, status) {
  const cell = bar.lastElementChild;
  if (!cell) return;
  const now = (cell.className.match(/s-(\w+)/) || [])[1];
  const worst = DAY_ORDER.find((s) => s === status || s === now) || status;
  cell.className = `d s-${worst}`;
  const uptime = (cell.title.match(/, ([\d.]+%) uptime$/) || [])[1] || "100.00%";
  cell.title = dayLabel(day(new Date(data.today + "T00:00:00Z")), worst, uptime);
}

// -- drawing ------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function setSection(id, inner, heading) {
  const section = $(id);
  const h = section.querySelector("h2");
  section.innerHTML = "";
  if (h) section.append(h);
  section.insertAdjacentHTML("beforeend", inner);
  if (heading !== undefined) section.hidden = !heading;
}

export function draw() {
  const nameOf = names();
  $("overall").innerHTML = banner(snap.status);
  setSection("incidents", snap.incidents.map((i) => incident(i, nameOf)).join(""), snap.incidents.length > 0);
  setSection("maintenances", snap.maintenances.map((m) => maintenance(m, nameOf)).join(""), snap.maintenances.length > 0);
  // Keep each service's bar (drawn by the server), the popover open under it
  // and its chart across the redraw.
  const kept = new Map();
  for (const li of document.querySelectorAll("#components li.service")) {
    kept.set(li.id, {
      bar: [...li.querySelectorAll(":scope > .bar, :scope > .day-pop, :scope > .bar-legend")],
      chart: li.querySelector(":scope > .chart"),
    });
  }
  setSection("components", components());
  let missing = false;
  for (const s of snap.services) {
    const li = $(`service-${s.id}`);
    if (!li) continue;
    const was = kept.get(li.id) || { bar: [], chart: null };
    if (s.showcase) {
      li.append(...(was.bar.length ? was.bar : newBar()));
      days.enhance(li.querySelector(":scope > .bar"), s.name);
    }
    if (s.show_response_times) {
      const view = charts.get(s.id);
      if (view) li.append(chart(s.id, view));
      else if (was.chart) li.append(was.chart);
      else missing = true;
    }
  }
  if (missing) readCharts();
  days.redrawn();
  $("history-days").innerHTML = historyDays();
}

// -- applying events (docs/protocol.md, "Server → client: event") ------------

function put(list, item, keep, order) {
  const rest = list.filter((x) => x.id !== item.id);
  if (keep(item)) rest.push(item);
  return order ? rest.sort(order) : rest;
}

const byPosition = (a, b) => a.position - b.position || (a.name.toLowerCase() < b.name.toLowerCase() ? -1 : a.name.toLowerCase() > b.name.toLowerCase() ? 1 : 0);
const newestFirst = (a, b) => (a.started_at < b.started_at ? 1 : a.started_at > b.started_at ? -1 : 0);
const soonestFirst = (a, b) => (a.scheduled_for < b.scheduled_for ? -1 : a.scheduled_for > b.scheduled_for ? 1 : 0);
const always = () => true;

export function apply(event) {
  const d = event.data;
  switch (event.name) {
    case "org.updated":
      snap.org = { ...snap.org, name: d.org.name };
      look(d.org);
      break;
    case "group.created":
    case "group.updated":
      snap.groups = put(snap.groups, d.group, always);
      break;
    case "group.deleted":
      snap.groups = snap.groups.filter((g) => g.id !== d.id);
      break;
    case "service.created":
    case "service.updated": {
      snap.services = put(snap.services, d.service, always, byPosition);
      const li = $(`service-${d.service.id}`);
      const bar = li && li.querySelector(".bar");
      if (bar && d.previous_status) markToday(bar, d.service.status);
      break;
    }
    case "service.deleted":
      snap.services = snap.services.filter((s) => s.id !== d.id);
      break;
    case "incident.created":
    case "incident.updated":
      days.stale();
      snap.incidents = put(snap.incidents, d.incident, (i) => ACTIVE.has(i.status), newestFirst);
      if (ACTIVE.has(d.incident.status)) past.delete(d.incident.id);
      else past.set(d.incident.id, d.incident);
      break;
    case "incident.deleted":
      snap.incidents = snap.incidents.filter((i) => i.id !== d.id);
      past.delete(d.id);
      break;
    case "maintenance.created":
    case "maintenance.updated":
      days.stale();
      snap.maintenances = put(snap.maintenances, d.maintenance, (m) => !OVER.has(m.status), soonestFirst);
      break;
    case "maintenance.deleted":
      snap.maintenances = snap.maintenances.filter((m) => m.id !== d.id);
      break;
    case "status.changed":
      snap.status = d.status;
      break;
    default:
      return false;
  }
  return true;
}

// -- the organization's look (web/templates/_header.html, _footer.html) --------

export function themeUrl(org) {
  return `/status/${org.slug}/theme.css?v=${(org.accent_color || "#none").slice(1)}`;
}

function look(org) {
  zone = org.time_zone || "UTC";
  const theme = $("org-theme");
  if (theme && theme.getAttribute("href") !== themeUrl(org)) theme.setAttribute("href", themeUrl(org));
  const logo = $("org-logo");
  if (logo) {
    if (org.logo_url) logo.setAttribute("src", org.logo_url);
    else logo.removeAttribute("src");
    logo.hidden = !org.logo_url;
  }
  const links = $("org-links");
  if (links) {
    links.hidden = !org.header_links.length;
    links.setAttribute("aria-label", `${org.name} links`);
    links.firstElementChild.innerHTML = org.header_links.map((l) => `<li><a href="${esc(l.url)}">${esc(l.label)}</a></li>`).join("");
  }
  const footer = $("org-footer");
  if (footer) {
    footer.textContent = org.footer_text || "";
    footer.hidden = !org.footer_text;
  }
  const brand = document.querySelector(".brand a");
  if (brand && brand.lastChild && brand.lastChild.nodeType === Node.TEXT_NODE) brand.lastChild.textContent = org.name;
}

// -- wiring -------------------------------------------------------------------

const connection = $("connection");
const STATES = { connecting: ["Connecting…", ""], live: ["Live", "live"], offline: ["Reconnecting…", "offline"] };

function showState(state) {
  const [text, cls] = STATES[state];
  connection.textContent = text;
  connection.className = `connection ${cls}`;
  document.documentElement.dataset.connection = state;
}

let scheduled = false;
function redrawSoon() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    draw();
    document.title = `${snap.org.name} status`;
  });
}

days.start(data.org);
for (const s of snap.services) {
  const bar = document.querySelector(`#service-${s.id} > .bar`);
  if (bar) days.enhance(bar, s.name);
}

const live = new Live({ onState: showState });
live.subscribe(`status:${data.org}`, {
  since: data.seq,
  onSnapshot(snapshot) {
    snap = snapshot; // missed too much: start from the present
    redrawSoon();
  },
  onEvent(event) {
    if (apply(event)) redrawSoon();
  },
});

// For tests and the curious: the live state.
window.switchboard = { live, draw, get snapshot() { return snap; } };
