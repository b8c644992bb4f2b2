// The incident room, /admin/incidents/{id}: the responders' shared notes
// (room.js) beside the incident's timeline, both live over one WebSocket.
// Responders post updates and resolve the incident from beside its timeline
// (the REST API, as the console does).
//
// The page knows the incident's id; its organization is the first of the
// user's memberships that has it. The notes are the incident's room
// (`notes_room`); the timeline follows the org:<org> topic.

import { Live } from "./live.js";
import { Room } from "./room.js";
import * as session from "./session.js";
import { h, field, form, showError, clearErrors, value } from "./console/dom.js";

const main = document.getElementById("main");
const incidentId = main.dataset.incident;
const L = JSON.parse(document.getElementById("labels").textContent);
const connection = document.getElementById("connection");
const who = document.getElementById("who");

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const STATUS_WORDS = { typing: "typing…", active: "active", idle: "idle" };
const ACTIVE = ["investigating", "identified", "monitoring"];
const RANKS = ["viewer", "responder", "admin", "owner"];

const esc = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const pad = (n) => String(n).padStart(2, "0");
const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

function when(iso) {
  if (!iso) return "";
  const t = new Date(iso);
  return `${MONTHS[t.getUTCMonth()]} ${t.getUTCDate()}, ${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())} UTC`;
}

const state = {
  org: null,
  orgName: null,
  role: null, // the user's role in the organization
  incident: null,
  deleted: false,
  services: new Map(), // id -> name
  live: null,
  room: null,
  connection: "connecting",
};

// -- logged out: a small login form ----------------------------------------------

function showLogin(message = "") {
  document.title = "Log in · Incident room · Switchboard";
  who.replaceChildren();
  main.innerHTML = `
<section class="room-login" aria-labelledby="login-h">
<h1 id="login-h">Incident room</h1>
<p class="muted">Log in to join the responders' notes.</p>
<form id="login" class="login-form" novalidate>
<label for="login-email">Email</label>
<input id="login-email" name="email" type="email" autocomplete="username" required>
<label for="login-password">Password</label>
<input id="login-password" name="password" type="password" autocomplete="current-password" required>
<p id="login-error" class="form-error" role="alert">${esc(message)}</p>
<button type="submit" class="primary">Log in</button>
</form>
<p class="muted">Or open the <a href="/admin">console</a>.</p>
</section>`;
  const form = document.getElementById("login");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await session.login(form.email.value.trim(), form.password.value);
      start();
    } catch (error) {
      document.getElementById("login-error").textContent = error.message || "Could not log in.";
      button.disabled = false;
    }
  });
}

function showProblem(title, message) {
  main.innerHTML = `<section class="room-login"><h1>${esc(title)}</h1><p>${esc(message)}</p><p><a href="/admin">Back to the console</a></p></section>`;
}

// -- finding the incident ------------------------------------------------------------

async function findIncident() {
  const me = await session.api("GET", "/api/v1/me");
  const hint = new URLSearchParams(location.search).get("org");
  const orgs = me.memberships.map((m) => m.org);
  if (hint && orgs.includes(hint)) orgs.unshift(hint);
  for (const org of orgs) {
    try {
      const incident = await session.api("GET", `/api/v1/orgs/${encodeURIComponent(org)}/incidents/${encodeURIComponent(incidentId)}`);
      return { me, org, incident };
    } catch (error) {
      if (error.status === 404 || error.status === 403) continue;
      throw error;
    }
  }
  return { me, org: null, incident: null };
}

async function start() {
  if (!session.loggedIn()) {
    showLogin();
    return;
  }
  main.innerHTML = `<p class="muted room-loading">Opening the incident room…</p>`;
  let found;
  try {
    found = await findIncident();
  } catch (error) {
    if (error.status === 401) showLogin("Your login has ended: log in again.");
    else showProblem("The incident room is unavailable", error.message);
    return;
  }
  const user = found.me.user || {};
  const name = user.name || user.email || found.me.subject;
  showUser(name);
  if (!found.incident) {
    showProblem("No such incident", `None of your organizations has an incident ${incidentId}.`);
    return;
  }
  if (!found.incident.notes_room) {
    showProblem("No notes", "This incident has no notes room.");
    return;
  }
  state.org = found.org;
  state.incident = found.incident;
  const membership = found.me.memberships.find((m) => m.org === found.org);
  state.role = membership ? membership.role : null;
  try {
    state.orgName = (await session.api("GET", `/api/v1/orgs/${encodeURIComponent(found.org)}`)).name;
  } catch (error) {
    state.orgName = null; // the org topic's snapshot names it in a moment
  }
  layout();
  drawIncident();
  connect(name);
}

function showUser(name) {
  who.innerHTML = `<span class="who-name">${esc(name)}</span> <button type="button" id="logout">Log out</button>`;
  document.getElementById("logout").addEventListener("click", async () => {
    if (state.live) state.live.close();
    await session.logout();
    location.reload();
  });
}

// -- the page ------------------------------------------------------------------------

function layout() {
  main.innerHTML = `
<div class="room-head">
<nav class="crumbs" aria-label="Breadcrumb"><a href="/admin">Console</a> <span aria-hidden="true">›</span> <a id="org-name" href="#"></a> <span aria-hidden="true">›</span> Incident room</nav>
<h1 id="incident-name" class="room-title"></h1>
<p id="incident-meta" class="meta"></p>
</div>
<div class="room-grid">
<section class="notes-panel" aria-labelledby="notes-label">
<div class="notes-bar">
<h2 class="notes-heading"><label id="notes-label" for="notes">Shared notes</label></h2>
<p id="sync" class="sync">Joining…</p>
</div>
<div class="people">
<h3 id="participants-h" class="people-heading">In the room</h3>
<ul id="participants" class="participants" aria-labelledby="participants-h"></ul>
</div>
<div id="editor" class="editor">
<textarea id="notes" spellcheck="true" autocomplete="off" readonly aria-describedby="notes-help" placeholder="Joining the room…"></textarea>
<div class="mirror" aria-hidden="true"></div>
<div class="marks" aria-hidden="true"></div>
</div>
<p id="notes-help" class="notes-help muted">Everyone in the room edits these notes at once; changes are saved as you type.</p>
<div id="notice" class="room-notice" role="alert" hidden></div>
</section>
<aside class="side-panel" aria-labelledby="timeline-h">
<h2 id="timeline-h">Timeline</h2>
<ol id="updates" class="timeline room-timeline"></ol>
<section id="respond" class="respond" aria-labelledby="respond-h" hidden></section>
<p class="side-links"><a id="public-link" href="#">Public incident page</a></p>
</aside>
</div>`;
  drawOrgName();
  document.getElementById("public-link").href = `/status/${encodeURIComponent(state.org)}/incidents/${encodeURIComponent(incidentId)}`;
}

// The organization by its name (its slug until the name is known).
function drawOrgName() {
  const crumb = document.getElementById("org-name");
  if (!crumb) return;
  crumb.textContent = state.orgName || state.org;
  crumb.href = `/admin/${encodeURIComponent(state.org)}/incidents`;
}

function drawIncident() {
  const i = state.incident;
  document.title = `${i.name} · Incident room · Switchboard`;
  document.getElementById("incident-name").textContent = i.name;
  const affected = Object.keys(i.services || {}).map((id) => state.services.get(id)).filter(Boolean);
  const parts = [
    `<span class="tag room-status status-${esc(i.status)}">${esc(L.progress[i.status] || i.status)}</span>`,
    `<span class="tag impact-${esc(i.impact)} room-impact">${esc(L.impact[i.impact] || i.impact)}</span>`,
    `<span>Started <time datetime="${esc(i.started_at)}">${esc(when(i.started_at))}</time></span>`,
  ];
  if (affected.length) parts.push(`<span>Affects ${esc(affected.join(", "))}</span>`);
  if (state.deleted) parts.unshift(`<span class="tag deleted">Deleted</span>`);
  document.getElementById("incident-meta").innerHTML = parts.join(" ");
  const items = [...i.updates].reverse().map((u) => {
    const changes = (u.affected_services || []).map((a) =>
      `<li>${esc(a.name)}: ${esc(L.status[a.old_status] || a.old_status)} → ${esc(L.status[a.new_status] || a.new_status)}</li>`);
    return `<li class="update status-${esc(u.status)}">
<p><strong class="update-status">${esc(L.progress[u.status] || u.status)}</strong>${u.body ? ` <span class="body">${esc(u.body)}</span>` : ""}</p>
${changes.length ? `<ul class="changes">${changes.join("")}</ul>` : ""}
<p class="when"><time datetime="${esc(u.created_at)}">${esc(when(u.created_at))}</time>${u.author ? ` · ${esc(u.author)}` : ""}</p>
</li>`;
  });
  document.getElementById("updates").innerHTML = items.join("");
  drawRespond();
}

// -- posting an update, resolving ----------------------------------------------------

const canRespond = () => RANKS.indexOf(state.role) >= RANKS.indexOf("responder");

// The form beside the timeline, drawn once while the incident is active (what
// is being typed stays while updates arrive); its status follows the
// incident's unless the responder is choosing one.
function drawRespond() {
  const box = document.getElementById("respond");
  const i = state.incident;
  if (!box || !canRespond() || state.deleted) {
    if (box) box.hidden = true;
    return;
  }
  const active = ACTIVE.includes(i.status);
  const key = active ? "active" : "over";
  box.hidden = false;
  if (box.dataset.key === key) {
    const select = box.querySelector("select[name=status]");
    if (select && document.activeElement !== select) select.value = i.status;
    return;
  }
  const focused = box.contains(document.activeElement);
  box.dataset.key = key;
  box.replaceChildren();
  if (!active) {
    const done = h("p", { class: "muted", tabindex: "-1" }, "This incident is resolved. Its postmortem is written from the console.");
    box.append(h("h2", { id: "respond-h", class: "respond-heading" }, "Resolved"), done);
    if (focused) done.focus();
    return;
  }
  box.append(h("h2", { id: "respond-h", class: "respond-heading" }, "Post an update"), respondForm(i));
}

function respondForm(i) {
  const f = form("respond-form", [
    field({ label: "Status", name: "status", type: "select", value: i.status, options: ACTIVE.map((s) => [s, L.progress[s]]) }),
    field({ label: "Message", name: "body", type: "textarea", rows: 3, hint: "Shown on the public page." }),
    h(
      "div",
      { class: "form-actions" },
      h("button", { type: "submit", class: "primary", name: "action", value: "update" }, "Post update"),
      h("button", { type: "button", class: "resolve", "aria-expanded": "false", "aria-controls": "resolve-confirm", onclick: () => askResolve(f, true) }, "Resolve…"),
    ),
    h(
      "div",
      { class: "confirm", id: "resolve-confirm", hidden: true },
      h("p", {}, "Resolve the incident? Its services go back to operational, and it cannot be reopened. The message above, if any, is posted with it."),
      h(
        "div",
        { class: "form-actions" },
        h("button", { type: "submit", class: "danger strong", name: "action", value: "resolve" }, "Resolve incident"),
        h("button", { type: "button", onclick: () => askResolve(f, false) }, "Keep it open"),
      ),
    ),
    h("p", { class: "respond-said", role: "status" }),
  ]);
  f.addEventListener("submit", (event) => {
    event.preventDefault();
    const action = event.submitter ? event.submitter.value : "update";
    respond(f, action);
  });
  return f;
}

function askResolve(f, open) {
  const box = f.querySelector(".confirm");
  const toggle = f.querySelector("button.resolve");
  box.hidden = !open;
  toggle.setAttribute("aria-expanded", String(open));
  (open ? box.querySelector("button[type=submit]") : toggle).focus();
}

async function respond(f, action) {
  if (f.dataset.busy) return;
  const i = state.incident;
  const said = f.querySelector(".respond-said");
  const words = value(f, "body");
  const base = `/api/v1/orgs/${encodeURIComponent(state.org)}/incidents/${encodeURIComponent(i.id)}`;
  clearErrors(f);
  said.textContent = "";
  let request;
  if (action === "resolve") {
    request = () => session.api("POST", `${base}/resolve`, words.trim() ? { body: words } : undefined);
  } else {
    const body = {};
    if (value(f, "status") !== i.status) body.status = value(f, "status");
    if (words.trim()) body.body = words;
    if (!Object.keys(body).length) {
      const error = new Error("write a message, or change the status");
      error.field = "body";
      showError(f, error);
      return;
    }
    request = () => session.api("PATCH", base, body);
  }
  f.dataset.busy = "1";
  f.setAttribute("aria-busy", "true");
  const buttons = [...f.querySelectorAll("button")];
  for (const b of buttons) b.disabled = true;
  try {
    const saved = await request();
    state.incident = saved;
    f.querySelector("textarea").value = "";
    said.textContent = action === "resolve" ? "The incident is resolved." : "Update posted.";
    drawIncident();
  } catch (error) {
    if (error.status === 401) {
      showLogin("Your login has ended: log in again.");
      return;
    }
    if (f.isConnected) showError(f, error);
  } finally {
    delete f.dataset.busy;
    f.removeAttribute("aria-busy");
    for (const b of buttons) b.disabled = false;
  }
}

function drawParticipants(room) {
  const list = document.getElementById("participants");
  const people = [...room.participants.values()].sort((a, b) =>
    (b.client_id === room.clientId) - (a.client_id === room.clientId) || a.name.localeCompare(b.name));
  list.replaceChildren(...people.map((p) => {
    const li = document.createElement("li");
    li.className = "participant";
    li.dataset.client = p.client_id;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.setAttribute("aria-hidden", "true");
    swatch.style.backgroundColor = p.colour;
    const name = document.createElement("span");
    name.className = "participant-name";
    name.textContent = p.name;
    const detail = document.createElement("span");
    detail.className = "participant-status";
    const words = [];
    if (p.client_id === room.clientId) words.push("you");
    if (p.role === "viewer") words.push("read only");
    words.push(STATUS_WORDS[p.status] || p.status);
    detail.textContent = words.join(", ");
    li.append(swatch, name, " ", detail);
    return li;
  }));
}

function drawState() {
  const room = state.room;
  const live = state.connection === "live" && room && room.joined;
  const shown = live ? "live" : state.connection === "offline" ? "offline" : "connecting";
  connection.className = `connection ${shown}`;
  connection.textContent = live ? "Live" : shown === "offline" ? "Reconnecting…" : "Connecting…";
  const sync = document.getElementById("sync");
  if (!sync || !room) return;
  // Joined: an empty room says so, instead of "Joining the room…".
  if (room.ot) room.textarea.placeholder = room.role === "viewer" ? "Nothing written yet." : "Nothing written yet: write the first notes here.";
  let text;
  let kind;
  if (!room.ot) {
    text = "Joining…";
    kind = "joining";
  } else if (room.pending === 0) {
    text = "All changes saved";
    kind = "saved";
  } else if (live) {
    text = `Saving… ${plural(room.pending, "edit", "edits")} pending`;
    kind = "pending";
  } else {
    text = `Offline: ${plural(room.pending, "edit", "edits")} pending, sent when back`;
    kind = "unsent";
  }
  sync.textContent = text;
  sync.className = `sync ${kind}`;
  drawNotice(room);
}

function drawNotice(room) {
  const notice = document.getElementById("notice");
  const parts = [];
  if (room.error) parts.push(`<p>${esc(room.error.message || room.error.code)}</p>`);
  if (room.lost !== null) {
    parts.push(`<p>Some of your edits could not be merged after a long disconnection and were not saved. Your copy:</p>
<pre class="lost"></pre><p><button type="button" id="dismiss">Dismiss</button></p>`);
  }
  notice.hidden = parts.length === 0;
  const key = `${room.error && room.error.message}|${room.lost}`;
  if (notice.dataset.key === key) return;
  notice.dataset.key = key;
  notice.innerHTML = parts.join("");
  if (room.lost !== null) {
    notice.querySelector(".lost").textContent = room.lost;
    document.getElementById("dismiss").addEventListener("click", () => {
      room.lost = null;
      room.error = null;
      drawState();
    });
  }
}

// -- live ----------------------------------------------------------------------------

function connect(name) {
  const live = new Live({
    token: () => session.token(),
    onState: (s) => {
      state.connection = s;
      if (s !== "live" && state.room) state.room.disconnected();
      drawState();
    },
  });
  state.live = live;
  state.room = new Room({
    live,
    id: state.incident.notes_room,
    name,
    editor: document.getElementById("editor"),
    onChange: (room) => {
      drawParticipants(room);
      drawState();
    },
  });
  live.subscribe(`org:${state.org}`, {
    onSnapshot: (snapshot) => orgSnapshot(snapshot),
    onEvent: (event) => orgEvent(event),
  });
  window.switchboard = { live, room: state.room };
  drawState();
}

function orgSnapshot(snapshot) {
  state.orgName = snapshot.org.name;
  drawOrgName();
  state.services = new Map(snapshot.services.map((s) => [s.id, s.name]));
  const current = snapshot.incidents.find((i) => i.id === incidentId);
  if (current) {
    state.incident = current;
    drawIncident();
  } else {
    refetch(); // resolved incidents are not in the snapshot: read it again
  }
}

async function refetch() {
  try {
    state.incident = await session.api("GET", `/api/v1/orgs/${encodeURIComponent(state.org)}/incidents/${encodeURIComponent(incidentId)}`);
  } catch (error) {
    if (error.status === 404) state.deleted = true;
  }
  drawIncident();
}

function orgEvent(event) {
  const data = event.data;
  if ((event.name === "incident.updated" || event.name === "incident.created") && data.incident.id === incidentId) {
    state.incident = data.incident;
    drawIncident();
  } else if (event.name === "incident.deleted" && data.id === incidentId) {
    state.deleted = true;
    drawIncident();
  } else if ((event.name === "service.created" || event.name === "service.updated") && data.service) {
    state.services.set(data.service.id, data.service.name);
    drawIncident();
  } else if (event.name === "service.deleted") {
    state.services.delete(data.id);
  } else if (event.name === "org.updated") {
    state.orgName = data.org.name;
    drawOrgName();
  }
}

addEventListener("beforeunload", (e) => {
  if (state.room && state.room.pending > 0) e.preventDefault(); // edits not saved yet
});

session.onChange((now) => {
  if (!now) location.reload(); // logged out in another tab
});

start();
