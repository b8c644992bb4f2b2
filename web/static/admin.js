// The admin console: one page that routes /admin/... itself (history API).
// What an organization has (services, groups, active incidents, open
// maintenances) comes from the members' topic org:<slug> over the WebSocket
// and stays live; history, members, tokens and the audit log come from the
// REST API. Every change goes through the REST API, as the logged-in user
// (session.js), and the server's error, if any, is shown where it belongs.
//
// Routes: /admin                      login, or the first organization
//         /admin/<org>/<view>         incidents, services, maintenances, monitors, team, tokens,
//                                     audit, notifications, subscribers, settings
//         /admin/<org>/monitors/<id>  a monitor's page
//         /admin/probes               the server's probes (its operators)
//         /admin/join/<invitation>    accept an invitation
// (/admin/incidents/<id> is the incident room: another page.)

import * as session from "./session.js";
import { ApiError } from "./session.js";
import { Live } from "./live.js";
import { h, add, clear, field, form, onSubmit, actions, say, explain, rank, ROLE_WORDS, INDICATOR_ICON, value, when } from "./console/dom.js";
import { servicesView } from "./console/services.js";
import { incidentsView } from "./console/incidents.js";
import { maintenancesView } from "./console/maintenances.js";
import { teamView, tokensView, auditView, joinPage } from "./console/team.js";
import { monitorsView } from "./console/monitors.js";
import { probesView } from "./console/probes.js";
import { notificationsView, subscribersView } from "./console/notify.js";
import { settingsView } from "./console/settings.js";

const VIEWS = [
  { id: "incidents", label: "Incidents", need: "viewer", mount: incidentsView },
  { id: "services", label: "Services", need: "viewer", mount: servicesView },
  { id: "maintenances", label: "Maintenance", need: "viewer", mount: maintenancesView },
  { id: "monitors", label: "Monitors", need: "viewer", mount: monitorsView, deeper: true },
  { id: "team", label: "Team", need: "admin", mount: teamView },
  { id: "tokens", label: "API tokens", need: "admin", mount: tokensView },
  { id: "audit", label: "Audit log", need: "admin", mount: auditView },
  { id: "notifications", label: "Notifications", need: "admin", mount: notificationsView },
  { id: "subscribers", label: "Subscribers", need: "admin", mount: subscribersView },
  { id: "settings", label: "Settings", need: "admin", mount: settingsView },
];
const DEFAULT_VIEW = "incidents";
const ACTIVE = new Set(["investigating", "identified", "monitoring"]);

const $ = (id) => document.getElementById(id);
const main = $("main");

// -- the organization's live data ---------------------------------------------

function emptyData(slug) {
  return {
    slug,
    ready: false,
    error: null,
    deleted: false,
    org: null,
    status: null,
    groups: new Map(),
    services: new Map(),
    incidents: new Map(),
    maintenances: new Map(),
    monitors: new Map(), // as the topic has them (GET .../monitors adds what the regions see)
    probes: [], // GET .../probes: the regions its monitors are checked from
  };
}

const app = {
  me: null, // GET /api/v1/me
  orgs: [], // GET /api/v1/orgs: [{slug, name, role, ...}]
  org: null, // the slug shown
  role: null, // the user's role in it
  data: emptyData(null),
  live: null,
  connection: "",

  // REST under /api/v1/orgs/<org> (or an absolute /api path).
  async api(method, path, body) {
    const full = path.startsWith("/api/") ? path : `/api/v1/orgs/${encodeURIComponent(app.org)}${path}`;
    try {
      return await session.api(method, full, body);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) loginEnded(error);
      throw error;
    }
  },

  can(role) {
    return app.role !== null && rank(app.role) >= rank(role);
  },

  // Put what an answer returned in place (the event will say the same).
  upsert(kind, item) {
    const map = app.data[kind];
    if (!map || !item || !item.id) return;
    const old = map.get(item.id);
    if (old && old.updated_at && item.updated_at && old.updated_at > item.updated_at) return;
    map.set(item.id, item);
    changed();
  },

  remove(kind, id) {
    if (app.data[kind].delete(id)) changed();
  },

  services() {
    return [...app.data.services.values()].sort(byPosition);
  },

  navigate,
  link,
  changed,
  refresh: () => loadMe(), // the user's organizations and roles, read again
};
window.switchboardConsole = app; // for the curious (and tests)

const fold = (s) => s.toLowerCase();
function byPosition(a, b) {
  return a.position - b.position || (fold(a.name) < fold(b.name) ? -1 : fold(a.name) > fold(b.name) ? 1 : 0);
}

// What the console keeps of an organization, by the kind of the events
// (<kind>.created, .updated, .deleted) that change it.
const KEPT = { group: "groups", service: "services", incident: "incidents", maintenance: "maintenances", monitor: "monitors" };

function applyEvent(event) {
  const d = event.data;
  const data = app.data;
  // A view that keeps what the snapshot does not (members, channels, the
  // audit log...) hears every event, e.g. change.noted, to read it again.
  if (mounted && mounted.event) mounted.event(event);
  const [kind, action] = event.name.split(".");
  const kept = KEPT[kind] && data[KEPT[kind]];
  if (kept && ["created", "updated", "deleted"].includes(action)) {
    if (action === "deleted") kept.delete(d.id);
    else kept.set(d[kind].id, d[kind]);
    changed();
    return;
  }
  switch (event.name) {
    case "org.updated":
      data.org = { ...data.org, ...d.org };
      for (const o of app.orgs) if (o.slug === data.slug) o.name = d.org.name;
      drawChrome();
      break;
    case "status.changed":
      data.status = d.status;
      break;
    case "org.deleted":
      data.deleted = true;
      break;
    case "probe.offline":
    case "probe.online":
      loadProbes();
      return;
    default:
      return;
  }
  changed();
}

// The probes' regions are the server's, not the organization's: read them
// when the organization is (re)loaded and when one goes offline or comes back.
async function loadProbes() {
  const slug = app.data.slug;
  try {
    const answer = await app.api("GET", "/probes");
    if (app.data.slug !== slug) return;
    app.data.probes = answer.data;
  } catch (error) {
    return; // the banner stays as it was; the next event or reload tries again
  }
  changed();
}

function applySnapshot(snapshot) {
  const data = app.data;
  data.org = snapshot.org;
  data.status = snapshot.status;
  data.groups = new Map(snapshot.groups.map((g) => [g.id, g]));
  data.services = new Map(snapshot.services.map((s) => [s.id, s]));
  // The snapshot holds the active incidents and open maintenances; keep the
  // history already loaded, minus what the snapshot says is still active.
  for (const [id, i] of data.incidents) if (ACTIVE.has(i.status)) data.incidents.delete(id);
  for (const i of snapshot.incidents) data.incidents.set(i.id, i);
  for (const [id, m] of data.maintenances) if (!["completed", "cancelled"].includes(m.status)) data.maintenances.delete(id);
  for (const m of snapshot.maintenances) data.maintenances.set(m.id, m);
  data.monitors = new Map((snapshot.monitors || []).map((m) => [m.id, m]));
  data.ready = true;
  data.error = null;
  changed();
  loadProbes();
}

let subscription = null;
function follow(slug) {
  if (app.data.slug === slug && subscription) return;
  if (subscription) subscription.close();
  app.data = emptyData(slug);
  if (!app.live) {
    app.live = new Live({ token: () => session.token(), onState: showConnection });
  }
  subscription = app.live.subscribe(`org:${slug}`, {
    onSnapshot: applySnapshot,
    onEvent: applyEvent,
    onError(error) {
      app.data.error = error.message || error.code;
      changed();
    },
  });
}

const CONNECTION = { connecting: ["Connecting…", ""], live: ["Live", "live"], offline: ["Reconnecting…", "offline"] };
let wasLive = false;
function showConnection(state) {
  if (state === "live") {
    if (wasLive) recheckRoles(); // back after a drop: a changed membership closes connections
    wasLive = true;
  }
  app.connection = state;
  const [text, cls] = CONNECTION[state] || ["", ""];
  const el = $("connection");
  el.textContent = text;
  el.className = `connection ${cls}`;
  document.documentElement.dataset.connection = state;
}

// Memberships may have changed while the connection was down (a changed
// role closes the user's connections): if so, draw the console again.
async function recheckRoles() {
  if (!app.me) return;
  const roles = () => JSON.stringify(app.orgs.map((o) => [o.slug, o.role]));
  const before = roles();
  try {
    await loadMe();
  } catch (error) {
    return;
  }
  if (roles() !== before) route();
}

// Views redraw at most once a frame, however many events arrive.
let scheduled = false;
function changed() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    drawStatus();
    if (mounted && mounted.update) mounted.update();
  });
}

// -- routing ------------------------------------------------------------------

function parse(pathname) {
  const parts = pathname.replace(/^\/admin\/?/, "").split("/").filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch (e) {
      return p;
    }
  });
  if (!parts.length) return { name: "home" };
  if (parts[0] === "join" && parts.length === 2 && parts[1].startsWith("sbi_")) return { name: "join", token: parts[1] };
  if (parts[0] === "probes" && parts.length === 1) return { name: "probes" };
  return { name: "org", org: parts[0], view: parts[1] || "", rest: parts.slice(2) };
}

export function link(org, view) {
  return `/admin/${encodeURIComponent(org)}/${view}`;
}

function navigate(path, { replace = false, focus = !replace } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  route({ focus });
}

addEventListener("popstate", () => route({ focus: true }));

// Links inside the console route here; others (the incident room, the public
// page) are plain navigations.
document.addEventListener("click", (event) => {
  const a = event.target.closest && event.target.closest("a[data-route]");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(a.getAttribute("href"));
});

let mounted = null; // {update(), destroy()} of the view shown
let routing = 0;

function unmount() {
  if (mounted && mounted.destroy) mounted.destroy();
  mounted = null;
  clear(main);
}

async function route({ focus = false } = {}) {
  const ticket = ++routing;
  const r = parse(location.pathname);
  if (r.name === "join") {
    drawChrome();
    unmount();
    mounted = joinPage(app, main, r.token, { showLogin: () => showLogin(`Log in to accept the invitation.`), refresh: loadMe });
    return;
  }
  if (!session.loggedIn()) {
    showLogin();
    return;
  }
  if (!app.me) {
    try {
      await loadMe();
    } catch (error) {
      if (ticket !== routing) return;
      if (error instanceof ApiError && error.status === 401) return; // loginEnded showed the form
      showProblem("The console could not start", explain(error), true);
      return;
    }
    if (ticket !== routing) return;
  }
  if (r.name === "probes") {
    showProbes(focus);
    return;
  }
  if (r.name === "home") {
    if (!app.orgs.length) {
      app.org = null;
      showProblem("No organization yet", "You are not a member of any organization. Ask an admin for an invitation link.");
      return;
    }
    navigate(link(app.orgs[0].slug, DEFAULT_VIEW), { replace: true, focus });
    return;
  }
  const org = app.orgs.find((o) => o.slug === r.org);
  if (!org) {
    app.org = null;
    app.role = null;
    showProblem("Organization not found", `You are not a member of an organization called “${r.org}”.`);
    return;
  }
  if (!r.view) {
    navigate(link(org.slug, DEFAULT_VIEW), { replace: true, focus });
    return;
  }
  app.org = org.slug;
  app.role = org.role;
  follow(org.slug);
  const view = VIEWS.find((v) => v.id === r.view);
  drawChrome(view);
  unmount();
  if (!view || (r.rest.length && !(view.deeper && r.rest.length === 1))) {
    showProblem("Page not found", "There is no such page in the console.", false, true);
    return;
  }
  if (!app.can(view.need)) {
    showProblem(view.label, `This page is for the organization's ${view.need}s; you are a ${org.role}.`, false, true);
    return;
  }
  document.title = `${view.label} · ${org.name} · Switchboard`;
  mounted = view.mount(app, main, r.rest) || null;
  drawStatus();
  if (focus) focusHeading();
}

// The server's probes, for its operators; the organization shown stays the
// one chosen before (the first one, else none).
function showProbes(focus) {
  if (!app.org && app.orgs.length) {
    app.org = app.orgs[0].slug;
    app.role = app.orgs[0].role;
  }
  if (app.org) follow(app.org);
  drawChrome(PROBES);
  unmount();
  if (!app.me.server_operator) {
    showProblem("Probes", "This page is for the server's operators.", false, true);
    return;
  }
  document.title = "Probes · Switchboard";
  mounted = probesView(app, main);
  drawStatus();
  if (focus) focusHeading();
}
const PROBES = { id: "probes" };

function focusHeading() {
  const h1 = main.querySelector("h1");
  if (h1) {
    h1.tabIndex = -1;
    h1.focus();
  }
}

async function loadMe() {
  const [me, orgs] = await Promise.all([app.api("GET", "/api/v1/me"), app.api("GET", "/api/v1/orgs")]);
  app.me = me;
  const roles = Object.fromEntries(me.memberships.map((m) => [m.org, m.role]));
  app.orgs = orgs.data.filter((o) => roles[o.slug]).map((o) => ({ ...o, role: roles[o.slug] }));
}

function showProblem(title, text, retry = false, keepChrome = false) {
  if (!keepChrome) drawChrome();
  unmount();
  document.title = `${title} · Switchboard`;
  add(main, [
    h("section", { class: "problem" }, h("h1", {}, title), h("p", {}, text), retry ? h("button", { type: "button", onclick: () => route() }, "Try again") : null),
  ]);
}

// -- logging in and out ---------------------------------------------------------

function forget() {
  app.me = null;
  app.orgs = [];
  app.org = null;
  app.role = null;
  if (subscription) subscription.close();
  subscription = null;
  if (app.live) app.live.close();
  app.live = null;
  app.data = emptyData(null);
  wasLive = false;
  showConnection("");
}

let endedMessage = "";
function loginEnded() {
  endedMessage = "Your login has ended. Log in again to go on.";
  localStorage.removeItem("switchboard.session");
  forget();
  route();
}

function showLogin(intro) {
  forget();
  drawChrome();
  unmount();
  document.title = "Log in · Switchboard console";
  const note = endedMessage;
  endedMessage = "";
  const f = form("login-form", [
    field({ label: "Email", name: "email", type: "email", autocomplete: "username", required: true }),
    field({ label: "Password", name: "password", type: "password", autocomplete: "current-password", required: true }),
    actions(h("button", { type: "submit", class: "primary" }, "Log in")),
  ]);
  onSubmit(f, async () => {
    await session.login(value(f, "email").trim(), value(f, "password"));
    route({ focus: true });
  });
  add(main, [
    h(
      "section",
      { class: "login card", "aria-labelledby": "login-h" },
      h("h1", { id: "login-h" }, "Log in"),
      h("p", { class: "muted" }, intro || "Manage your status pages, incidents and team."),
      note ? h("p", { class: "notice", role: "status" }, note) : null,
      f,
    ),
  ]);
}

async function logout() {
  await session.logout();
  forget();
  navigate("/admin");
  say("You are logged out.");
}

session.onChange((now) => {
  if (!now && app.me) {
    forget();
    route();
  } else if (now && !app.me) {
    route();
  }
});

// -- the header -----------------------------------------------------------------

function drawChrome(view) {
  const switcher = clear($("org-switch"));
  const who = clear($("who"));
  const nav = clear($("views"));
  const logged = Boolean(app.me);
  const operator = logged && app.me.server_operator;
  nav.hidden = !logged || (!app.org && !operator);
  if (!logged) return;
  if (app.orgs.length) {
    const select = h(
      "select",
      { id: "org-select", onchange: () => switchOrg(select.value) },
      app.orgs.map((o) => h("option", { value: o.slug }, o.name)),
    );
    select.value = app.org || app.orgs[0].slug;
    add(switcher, [h("label", { for: "org-select", class: "vh" }, "Organization"), select]);
  }
  const user = app.me.user || { name: app.me.subject, email: app.me.subject };
  add(who, [
    h(
      "span",
      { class: "user", title: user.email },
      h("span", { class: "vh" }, "Logged in as "),
      h("span", { class: "user-name" }, user.name || user.email),
      app.role ? h("span", { class: "role-badge" }, ROLE_WORDS[app.role]) : null,
    ),
    h("button", { type: "button", id: "logout", onclick: logout }, "Log out"),
  ]);
  if (!app.org && !operator) return;
  const list = h("ul", {});
  for (const v of app.org ? VIEWS : []) {
    if (!app.can(v.need)) continue;
    const current = view && view.id === v.id;
    list.append(h("li", {}, h("a", { href: link(app.org, v.id), "data-route": "", "aria-current": current ? "page" : null }, v.label)));
  }
  if (operator) {
    list.append(h("li", { class: "server-view" }, h("a", { href: "/admin/probes", "data-route": "", "aria-current": view === PROBES ? "page" : null }, "Probes")));
  }
  add(nav, [
    list,
    !app.org ? null : h("p", { class: "public-link" }, h("a", { href: `/status/${encodeURIComponent(app.org)}`, target: "_blank", rel: "noopener" }, "Public page", h("span", { "aria-hidden": "true" }, " ↗"), h("span", { class: "vh" }, " (opens in a new tab)"))),
  ]);
}

function switchOrg(slug) {
  const r = parse(location.pathname);
  const org = app.orgs.find((o) => o.slug === slug);
  let view = VIEWS.find((v) => v.id === r.view);
  if (!view || rank(org.role) < rank(view.need)) view = VIEWS[0];
  navigate(link(slug, view.id));
}

// Probes gone silent: their regions count for no quorum until they report.
function drawProbes() {
  const box = $("probes");
  if (!box) return;
  const offline = app.org ? app.data.probes.filter((p) => p.state === "offline") : [];
  clear(box);
  box.hidden = !offline.length;
  if (!offline.length) return;
  const items = offline.map((p) => h("li", {}, h("strong", {}, p.region), p.last_seen ? `: last result ${when(p.last_seen)}` : ": no result yet"));
  add(box, [
    h("p", {}, offline.length === 1 ? "A probe is offline: its region counts for no monitor's quorum until it reports again." : `${offline.length} probes are offline: their regions count for no monitor's quorum until they report again.`),
    h("ul", {}, items),
  ]);
}

function drawStatus() {
  drawProbes();
  const box = $("org-status");
  if (!box) return;
  const s = app.data.status;
  clear(box);
  box.hidden = !s || !app.org;
  if (!s) return;
  box.className = `org-status s-${s.indicator}`;
  add(box, [h("span", { class: "icon", "aria-hidden": "true" }, INDICATOR_ICON[s.indicator] || ""), " ", s.description]);
}

route();
