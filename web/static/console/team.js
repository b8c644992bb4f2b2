// The organization's people and machines: members and their roles,
// invitations (the link is shown once), API tokens (the secret is shown
// once), the audit log, and the page an invitation link opens.

import * as session from "../session.js";
import { ApiError } from "../session.js";
import { h, add, clear, redraw, field, form, onSubmit, actions, formDialog, say, explain, value, onSettled, time, when, secretBox, fromLocalInput, utcOffset, reloader, table, td, failed, ROLES, ROLE_WORDS, rank } from "./dom.js";

const enc = encodeURIComponent;

function roleOptions(app) {
  return ROLES.filter((r) => rank(r) <= rank(app.role)).map((r) => [r, ROLE_WORDS[r]]);
}

// -- members and invitations ---------------------------------------------------

export function teamView(app, main) {
  const membersBox = h("div", { class: "list-box", id: "members" });
  const invitesBox = h("div", { class: "list-box", id: "invitations" });
  const shown = h("div", { class: "once", id: "invitation-link" });
  let members = null;
  let invitations = null;

  const inviteForm = form("inline-form card", [
    h("h3", {}, "Invite someone"),
    h(
      "div",
      { class: "field-row" },
      field({ label: "Role", name: "role", type: "select", value: "viewer", options: roleOptions(app) }),
      field({ label: "Email", name: "email", type: "email", autocomplete: "off", hint: "Only this address may accept it. Leave empty for whoever has the link." }),
      field({ label: "Valid for (hours)", name: "hours", type: "number", value: 72, hint: "1 to 720." }),
    ),
    actions(h("button", { type: "submit", class: "primary" }, "Create invitation link")),
  ]);
  onSubmit(inviteForm, async () => {
    const body = { role: value(inviteForm, "role") };
    const email = value(inviteForm, "email").trim();
    if (email) body.email = email;
    const hours = value(inviteForm, "hours").trim();
    if (hours) body.hours = /^\d+$/.test(hours) ? Number(hours) : hours;
    const made = await app.api("POST", "/invitations", body);
    const url = made.accept_url;
    clear(shown);
    shown.append(secretBox(`Invitation link for a ${ROLE_WORDS[made.role].toLowerCase()}${made.email ? ` (${made.email})` : ""}`, url, `Send it to the person you invite: it is shown only this once. It works until ${when(made.expires_at)}.`));
    inviteForm.reset();
    shown.querySelector(".secret-value").focus();
    say("Invitation created. Copy its link now.");
    reloadInvitations();
  });

  add(main, [
    h("div", { class: "view-head" }, h("h1", {}, "Team")),
    h("section", { "aria-labelledby": "members-h" }, h("h2", { id: "members-h" }, "Members"), membersBox),
    h("section", { "aria-labelledby": "invitations-h" }, h("h2", { id: "invitations-h" }, "Invitations"), inviteForm, shown, h("h3", {}, "Pending invitations"), invitesBox),
  ]);

  async function loadMembers() {
    try {
      members = (await app.api("GET", "/members")).data;
      drawMembers();
    } catch (error) {
      failed(membersBox, "Members", error, loadMembers);
    }
  }

  async function loadInvitations() {
    try {
      invitations = (await app.api("GET", "/invitations")).data;
      drawInvitations();
    } catch (error) {
      failed(invitesBox, "Invitations", error, loadInvitations);
    }
  }

  function drawMembers() {
    const meId = app.me && app.me.id;
    redraw(membersBox, () =>
      table(
        "Members",
        ["Name", "Email", "Role", ""],
        members.map((m) => {
          const locked = m.role === "owner" && app.role !== "owner";
          const select = h(
            "select",
            { "aria-label": `Role of ${m.name || m.email}`, "data-key": `role-${m.id}`, disabled: locked },
            ROLES.map((r) => h("option", { value: r, disabled: r === "owner" && app.role !== "owner" }, ROLE_WORDS[r])),
          );
          select.value = m.role;
          onSettled(select, async (wanted) => {
            if (wanted === m.role) return;
            try {
              const changed = await app.api("PATCH", `/members/${enc(m.id)}`, { role: wanted });
              m.role = changed.role;
              say(`${m.name || m.email} is now ${ROLE_WORDS[changed.role].toLowerCase()}.`);
            } catch (error) {
              select.value = m.role;
              say(`The role was not changed. ${explain(error)}`, "error");
            }
          });
          return h(
            "tr",
            { "data-member": m.email },
            h("th", { scope: "row", "data-label": "Name" }, m.name || m.email, m.id === meId ? h("span", { class: "muted" }, " (you)") : null),
            td("Email", m.email),
            td("Role", select),
            h(
              "td",
              { class: "actions-cell" },
              locked ? null : h("button", { type: "button", class: "danger", "data-key": `remove-${m.id}`, onclick: () => removeMember(m) }, "Remove", h("span", { class: "vh" }, ` ${m.name || m.email}`)),
            ),
          );
        }),
        "No members.",
      ),
    );
  }

  function removeMember(m) {
    formDialog(`Remove ${m.name || m.email}?`, {
      submitLabel: "Remove member",
      danger: true,
      intro: "They lose access to this organization at once; their open connections are closed.",
      fields: [],
      async submit() {
        await app.api("DELETE", `/members/${enc(m.id)}`);
        say(`${m.name || m.email} was removed.`);
        reloadMembers();
      },
    });
  }

  function drawInvitations() {
    redraw(invitesBox, () =>
      table(
        "Pending invitations",
        ["Role", "For", "Created by", "Expires", ""],
        invitations.map((i) =>
          h(
            "tr",
            {},
            td("Role", ROLE_WORDS[i.role]),
            td("For", i.email || h("span", { class: "muted" }, "Anyone with the link")),
            td("Created by", i.created_by || ""),
            td("Expires", time(i.expires_at)),
            h("td", { class: "actions-cell" }, h("button", { type: "button", class: "danger", "data-key": `withdraw-${i.id}`, onclick: () => withdraw(i) }, "Withdraw", h("span", { class: "vh" }, ` the invitation for ${i.email || `a ${i.role}`}`))),
          ),
        ),
        "No pending invitations.",
      ),
    );
  }

  async function withdraw(i) {
    try {
      await app.api("DELETE", `/invitations/${enc(i.id)}`);
      say("Invitation withdrawn: its link no longer works.");
    } catch (error) {
      say(`The invitation was not withdrawn. ${explain(error)}`, "error");
    }
    reloadInvitations();
  }

  membersBox.append(h("p", { class: "muted", role: "status" }, "Loading…"));
  invitesBox.append(h("p", { class: "muted", role: "status" }, "Loading…"));
  const reloadMembers = reloader(loadMembers);
  const reloadInvitations = reloader(loadInvitations);
  reloadMembers();
  reloadInvitations();
  // Someone joined, left, changed role, or an invitation came or went
  // (anywhere: another tab, the API): read them again.
  return {
    event(e) {
      if (e.name !== "change.noted") return;
      if (/^member\./.test(e.data.action) || e.data.action === "invitation.accept") reloadMembers();
      if (/^invitation\./.test(e.data.action)) reloadInvitations();
    },
  };
}

// -- API tokens ---------------------------------------------------------------------

export function tokensView(app, main) {
  const box = h("div", { class: "list-box", id: "tokens" });
  const shown = h("div", { class: "once", id: "token-secret" });
  let tokens = null;

  const f = form("inline-form card", [
    h("h2", { id: "new-token-h" }, "New token"),
    h(
      "div",
      { class: "field-row" },
      field({ label: "Name", name: "name", required: true, autocomplete: "off", hint: "What uses it, e.g. “deploy-bot”." }),
      field({ label: "Role", name: "role", type: "select", value: "responder", options: roleOptions(app) }),
      field({ label: "Expires", name: "expires_at", type: "datetime-local", hint: `Optional; your local time (${utcOffset()}).` }),
    ),
    actions(h("button", { type: "submit", class: "primary" }, "Create token")),
  ]);
  onSubmit(f, async () => {
    const body = { name: value(f, "name"), role: value(f, "role") };
    if (value(f, "expires_at")) body.expires_at = fromLocalInput(value(f, "expires_at"));
    const made = await app.api("POST", "/tokens", body);
    clear(shown);
    shown.append(secretBox(`Token “${made.name}” (${ROLE_WORDS[made.role].toLowerCase()})`, made.token, "Copy it now: it is shown only this once. Send it as “Authorization: Bearer <token>”."));
    f.reset();
    shown.querySelector(".secret-value").focus();
    say("Token created. Copy its secret now.");
    reload();
  });

  add(main, [
    h("div", { class: "view-head" }, h("h1", {}, "API tokens")),
    h("p", { class: "lede muted" }, "For scripts and integrations: a token acts for this organization with its role, on the REST API and the WebSocket, until it expires or is revoked."),
    f,
    shown,
    h("section", { "aria-labelledby": "tokens-h" }, h("h2", { id: "tokens-h" }, "Tokens"), box),
  ]);

  async function load() {
    try {
      tokens = (await app.api("GET", "/tokens")).data;
      draw();
    } catch (error) {
      failed(box, "Tokens", error, load);
    }
  }

  function draw() {
    redraw(box, () =>
      table(
        "API tokens",
        ["Name", "Role", "Created by", "Created", "Expires", ""],
        tokens.map((t) =>
          h(
            "tr",
            { "data-token": t.name },
            h("th", { scope: "row", "data-label": "Name" }, t.name),
            td("Role", ROLE_WORDS[t.role]),
            td("Created by", t.created_by || ""),
            td("Created", time(t.created_at)),
            td("Expires", t.expires_at ? time(t.expires_at) : h("span", { class: "muted" }, "Never")),
            h("td", { class: "actions-cell" }, h("button", { type: "button", class: "danger", "data-key": `revoke-${t.id}`, onclick: () => revoke(t) }, "Revoke", h("span", { class: "vh" }, ` ${t.name}`))),
          ),
        ),
        "No tokens yet.",
      ),
    );
  }

  function revoke(t) {
    formDialog(`Revoke “${t.name}”?`, {
      submitLabel: "Revoke token",
      danger: true,
      intro: "It stops working at once, and its connections are closed. This cannot be undone.",
      fields: [],
      async submit() {
        await app.api("DELETE", `/tokens/${enc(t.id)}`);
        say(`Token “${t.name}” revoked.`);
        reload();
      },
    });
  }

  box.append(h("p", { class: "muted", role: "status" }, "Loading…"));
  const reload = reloader(load);
  reload();
  return {
    event(e) {
      if (e.name === "change.noted" && /^token\./.test(e.data.action)) reload();
    },
  };
}

// -- audit log -------------------------------------------------------------------

const AUDIT_PAGE = 25;

// An audit row's details in words: unset fields (recorded as "MISSING") and
// empty ones left out, ids of services, incidents and maintenances named.
function details(d, nameOf) {
  if (d === null || d === undefined) return "";
  if (typeof d !== "object") return String(d);
  const shownValue = (v) => {
    if (typeof v === "string") return nameOf(v);
    if (Array.isArray(v)) return v.map(shownValue).join(", ");
    if (v && typeof v === "object") return Object.entries(v).map(([k, x]) => `${nameOf(k)}: ${shownValue(x)}`).join(", ");
    return String(v);
  };
  return Object.entries(d)
    .filter(([, v]) => v !== null && v !== "" && v !== "MISSING" && !(typeof v === "object" && !Object.keys(v).length))
    .map(([k, v]) => `${k}: ${shownValue(v)}`)
    .join("; ");
}

export function auditView(app, main) {
  const box = h("div", { class: "list-box", id: "audit" });
  const pager = h("nav", { class: "pager", "aria-label": "Audit log pages" });
  const pages = [`/audit?limit=${AUDIT_PAGE}`]; // the path of each page seen
  let index = 0;
  let next = null;
  let rows = null;

  add(main, [
    h("div", { class: "view-head" }, h("h1", {}, "Audit log"), h("button", { type: "button", "data-key": "refresh", onclick: () => go(0) }, "Refresh")),
    h("p", { class: "lede muted" }, "Every change to this organization, newest first: who made it, from where, and what it said."),
    box,
    pager,
  ]);

  const people = new Map();
  const learnPeople = () =>
    app.api("GET", "/members").then((answer) => {
      for (const m of answer.data) people.set(m.id, m.name || m.email);
      if (rows) draw();
    }, () => {});
  learnPeople();

  const named = new Map(); // ids of things no longer live (resolved, over, deleted) -> names
  const asked = new Set();

  function nameOf(id) {
    const d = app.data;
    const found = d.services.get(id) || d.incidents.get(id) || d.maintenances.get(id);
    if (found) return found.name;
    return named.get(id) || id;
  }

  // Name the incidents and maintenances a page mentions that are not live.
  async function learnNames() {
    const wanted = rows.filter((r) => r.target && /^(incident|maintenance)\./.test(r.action) && nameOf(r.target) === r.target && !asked.has(r.target));
    if (!wanted.length) return;
    await Promise.all(
      wanted.map(async (r) => {
        asked.add(r.target);
        const kind = r.action.startsWith("incident.") ? "incidents" : "maintenances";
        try {
          named.set(r.target, (await app.api("GET", `/${kind}/${enc(r.target)}`)).name);
        } catch (error) {
          /* deleted since: its id stays */
        }
      }),
    );
    draw();
  }

  function targetName(r) {
    const id = r.target;
    if (!id) return "";
    const found = nameOf(id);
    if (found !== id) return found;
    if (people.has(id)) return people.get(id);
    if (r.details && typeof r.details.name === "string" && r.action.startsWith("token.")) return r.details.name;
    return id;
  }

  async function go(i) {
    index = i;
    try {
      const answer = await app.api("GET", pages[i]);
      rows = answer.data;
      next = answer.next;
      if (next && pages.length === i + 1) pages.push(next);
      for (const r of rows) {
        const name = r.details && typeof r.details.name === "string" ? r.details.name : null;
        if (name && /\.(create|schedule)$/.test(r.action) && r.target) named.set(r.target, name);
      }
      draw();
      learnNames();
    } catch (error) {
      failed(box, "The audit log", error, () => go(index));
    }
  }

  function draw() {
    redraw(box, () =>
      table(
        "Audit log",
        ["When", "Who", "Action", "Target", "Details", "Address"],
        rows.map((r) =>
          h(
            "tr",
            { "data-action": r.action },
            td("When", time(r.at)),
            td("Who", r.actor || r.actor_id || ""),
            td("Action", h("code", {}, r.action)),
            td("Target", targetName(r)),
            td("Details", h("span", { class: "details" }, details(r.details, nameOf))),
            td("Address", r.ip || ""),
          ),
        ),
        "Nothing has happened yet.",
      ),
    );
    redraw(pager, () => [
      h("button", { type: "button", "data-key": "newer", "data-alt-key": "older", disabled: index === 0, onclick: () => go(index - 1) }, "← Newer"),
      h("span", { class: "muted" }, `Page ${index + 1}`),
      h("button", { type: "button", "data-key": "older", "data-alt-key": "newer", disabled: !next, onclick: () => go(index + 1) }, "Older →"),
    ]);
  }

  box.append(h("p", { class: "muted", role: "status" }, "Loading…"));
  go(0);
  // Every change is an event on the organization's topic (those kept
  // elsewhere as change.noted): the newest page follows them.
  const newest = reloader(() => go(0));
  return {
    update: () => rows && draw(),
    event(e) {
      if (e.name === "change.noted" && /^member\./.test(e.data.action)) learnPeople();
      if (index === 0) newest();
    },
  };
}

// -- an invitation link ------------------------------------------------------------

async function anonymous(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let answer = null;
  try {
    answer = await response.json();
  } catch (e) {
    answer = null;
  }
  if (!response.ok) {
    const error = new ApiError(response.status, (answer && answer.error) || {});
    error.retryAfter = response.headers.get("Retry-After");
    throw error;
  }
  return answer;
}

export function joinPage(app, main, token, { showLogin, refresh }) {
  const box = h("section", { class: "login card join", "aria-labelledby": "join-h" }, h("h1", { id: "join-h" }, "Join an organization"), h("p", { class: "muted", role: "status" }, "Loading the invitation…"));
  add(main, [box]);
  document.title = "Invitation · Switchboard";
  const link = `/api/v1/invitations/${enc(token)}`;

  async function joined(org) {
    await refresh();
    app.navigate(`/admin/${enc(org)}/incidents`);
    say(`Welcome to ${org}.`);
  }

  (async () => {
    let invitation;
    try {
      invitation = await anonymous("GET", link);
    } catch (error) {
      clear(box);
      add(box, [h("h1", { id: "join-h" }, "This invitation cannot be used"), h("p", { role: "alert" }, explain(error)), h("p", {}, h("a", { href: "/admin", "data-route": "" }, "Go to the console"))]);
      return;
    }
    clear(box);
    const role = ROLE_WORDS[invitation.role].toLowerCase();
    add(box, [
      h("h1", { id: "join-h" }, `Join ${invitation.org_name || invitation.org}`),
      h("p", {}, `You are invited to join the organization “${invitation.org_name || invitation.org}” as ${/^[aeiou]/.test(role) ? "an" : "a"} ${role}. The invitation expires `, time(invitation.expires_at), "."),
    ]);
    if (session.loggedIn()) {
      const who = session.current().user;
      const f = form("join-form", [actions(h("button", { type: "submit", class: "primary" }, `Join as ${who ? who.email : "you"}`))]);
      onSubmit(f, async () => {
        const answer = await session.api("POST", `${link}/accept`);
        await joined(answer.org || invitation.org);
      });
      box.append(f);
      return;
    }
    const f = form("join-form", [
      h("h2", {}, "Create your account"),
      field({ label: "Email", name: "email", type: "email", autocomplete: "username", value: invitation.email || "", required: true }),
      field({ label: "Your name", name: "name", autocomplete: "name" }),
      field({ label: "Password", name: "password", type: "password", autocomplete: "new-password", required: true }),
      actions(h("button", { type: "submit", class: "primary" }, "Create account and join")),
    ]);
    onSubmit(f, async () => {
      const email = value(f, "email").trim();
      const answer = await anonymous("POST", `${link}/accept`, { email, name: value(f, "name"), password: value(f, "password") });
      await session.login(email, value(f, "password"));
      await joined(answer.org || invitation.org);
    });
    add(box, [f, h("p", { class: "alt" }, "Have an account already? ", h("button", { type: "button", class: "link-button", onclick: () => showLogin() }, "Log in to accept"))]);
  })();
  return {};
}
