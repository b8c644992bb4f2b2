// Services and groups: the public page's list, in its order. Create, edit,
// delete, reorder (a service within its group, a group or a lone service
// among the others), rename a group, and change a status in one step.

import { h, add, redraw, field, formDialog, say, explain, value, onSettled, STATUS, statusText } from "./dom.js";

// The public page's order: services by position, each group's services
// gathered where its first one is (server/rest/render.py: layout), hidden
// ones included.
export function layout(services, groups) {
  const blocks = [];
  const index = new Map();
  for (const s of services) {
    const gid = s.group_id;
    if (!gid || !groups.has(gid)) blocks.push([null, [s]]);
    else if (index.has(gid)) blocks[index.get(gid)][1].push(s);
    else {
      index.set(gid, blocks.length);
      blocks.push([gid, [s]]);
    }
  }
  return blocks;
}

export function loading(app) {
  if (app.data.error) return h("p", { class: "notice error-text", role: "alert" }, `The live data could not be loaded: ${app.data.error}`);
  if (app.data.deleted) return h("p", { class: "notice", role: "status" }, "This organization has been deleted.");
  return h("p", { class: "muted loading", role: "status" }, "Loading…");
}

export function servicesView(app, main) {
  const canChange = app.can("responder");
  const box = h("div", { class: "list-box" });
  add(main, [
    h(
      "div",
      { class: "view-head" },
      h("h1", {}, "Services"),
      canChange ? h("button", { type: "button", class: "primary", "data-key": "new-service", onclick: () => serviceDialog(app, null) }, "New service") : null,
    ),
    h("p", { class: "lede muted" }, "Listed in the order of the public page: a group's services are shown together, where its first service is."),
    box,
  ]);
  const update = () => redraw(box, () => table(app));
  update();
  return { update };
}

let moving = false;

function table(app) {
  if (!app.data.ready) return loading(app);
  const services = app.services();
  if (!services.length) return h("p", { class: "empty" }, "No services yet.");
  const canChange = app.can("responder");
  const groups = app.data.groups;
  const blocks = layout(services, groups);
  const cols = canChange ? 4 : 2;
  const t = h(
    "table",
    { class: "grid services-table" },
    h("caption", { class: "vh" }, "Services in page order"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        canChange ? h("th", { scope: "col", class: "order-col" }, "Order") : null,
        h("th", { scope: "col" }, "Service"),
        h("th", { scope: "col", class: "status-col" }, "Status"),
        canChange ? h("th", { scope: "col", class: "actions-col" }, h("span", { class: "vh" }, "Actions")) : null,
      ),
    ),
  );
  blocks.forEach(([gid, members], bi) => {
    const body = h("tbody", { class: gid ? "group-block" : "lone" });
    if (gid) body.append(groupRow(app, groups.get(gid), members, blocks, bi, cols));
    members.forEach((s, si) => body.append(serviceRow(app, s, { gid, members, si, blocks, bi })));
    t.append(body);
  });
  return t;
}

function moveButtons(label, key, canUp, canDown, up, down) {
  return h(
    "span",
    { class: "order-buttons" },
    h("button", { type: "button", class: "icon-button", "aria-label": `Move ${label} up`, title: "Move up", "data-key": `up:${key}`, "data-alt-key": `down:${key}`, disabled: !canUp, onclick: up }, "↑"),
    h("button", { type: "button", class: "icon-button", "aria-label": `Move ${label} down`, title: "Move down", "data-key": `down:${key}`, "data-alt-key": `up:${key}`, disabled: !canDown, onclick: down }, "↓"),
  );
}

function groupRow(app, group, members, blocks, bi, cols) {
  const canChange = app.can("responder");
  const last = blocks.length - 1;
  return h(
    "tr",
    { class: "group-row" },
    h(
      "th",
      { scope: "rowgroup", colspan: cols },
      h(
        "div",
        { class: "group-head" },
        canChange ? moveButtons(`the group ${group.name}`, `group-${group.id}`, bi > 0, bi < last, () => moveBlock(app, blocks, bi, -1, `The group ${group.name}`), () => moveBlock(app, blocks, bi, 1, `The group ${group.name}`)) : null,
        h("span", { class: "group-title" }, h("span", { class: "vh" }, "Group: "), group.name),
        h("span", { class: "muted count" }, members.length === 1 ? "1 service" : `${members.length} services`),
        canChange
          ? h("button", { type: "button", class: "link-button", "data-key": `rename-${group.id}`, onclick: () => renameGroup(app, group, members) }, "Rename", h("span", { class: "vh" }, ` group ${group.name}`))
          : null,
      ),
    ),
  );
}

function serviceRow(app, s, { gid, members, si, blocks, bi }) {
  const canChange = app.can("responder");
  const notes = [];
  if (s.only_show_if_degraded) notes.push("Hidden on the public page while operational");
  if (!s.showcase) notes.push("No uptime bar");
  if (s.show_response_times) notes.push("Response times on the public page");
  if (s.manual_status && s.status !== s.manual_status) notes.push(`Set to ${STATUS[s.manual_status]}; shown ${STATUS[s.status]} while an incident, a monitor or a maintenance holds it`);
  const name = h(
    "th",
    { scope: "row", class: ["service-cell", gid && "in-group"] },
    h("span", { class: "name" }, s.name),
    s.description ? h("span", { class: "desc" }, s.description) : null,
    notes.length ? h("span", { class: "notes" }, notes.join(" · ")) : null,
  );
  const row = h("tr", { id: `service-${s.id}`, class: `service-row s-${s.status}`, "data-name": s.name });
  if (canChange) {
    const [canUp, canDown, up, down] = gid
      ? [si > 0, si < members.length - 1, () => moveInGroup(app, blocks, bi, si, -1, s.name), () => moveInGroup(app, blocks, bi, si, 1, s.name)]
      : [bi > 0, bi < blocks.length - 1, () => moveBlock(app, blocks, bi, -1, s.name), () => moveBlock(app, blocks, bi, 1, s.name)];
    row.append(h("td", { class: "order-cell", "data-label": "Order" }, moveButtons(s.name, s.id, canUp, canDown, up, down)));
  }
  row.append(name);
  row.append(h("td", { class: "status-cell", "data-label": "Status" }, canChange ? statusSelect(app, s) : statusText(s.status)));
  if (canChange) {
    row.append(
      h(
        "td",
        { class: "actions-cell" },
        h("button", { type: "button", "data-key": `edit-${s.id}`, onclick: () => serviceDialog(app, s) }, "Edit", h("span", { class: "vh" }, ` ${s.name}`)),
        h("button", { type: "button", class: "danger", "data-key": `delete-${s.id}`, onclick: () => deleteDialog(app, s) }, "Delete", h("span", { class: "vh" }, ` ${s.name}`)),
      ),
    );
  }
  return row;
}

function statusSelect(app, s) {
  const select = h(
    "select",
    { class: `status-select st-${s.status}`, "aria-label": `Status of ${s.name}`, "data-key": `status-${s.id}`, value: s.status },
    Object.entries(STATUS).map(([v, text]) => h("option", { value: v }, text)),
  );
  onSettled(select, async (wanted) => {
    if (wanted === s.status) return;
    try {
      const answer = await app.api("PATCH", `/services/${encodeURIComponent(s.id)}`, { status: wanted });
      app.upsert("services", answer);
      say(`${answer.name} is now: ${STATUS[answer.status]}.`);
    } catch (error) {
      select.value = s.status;
      say(`The status of ${s.name} was not changed. ${explain(error)}`, "error");
    }
  });
  return select;
}

// -- reordering: renumber the services 1..n in the new order ------------------

async function reorder(app, blocks, what, direction) {
  if (moving) return;
  moving = true;
  try {
    const flat = blocks.flatMap(([, members]) => members);
    for (const [i, s] of flat.entries()) {
      if (s.position === i + 1) continue;
      app.upsert("services", await app.api("PATCH", `/services/${encodeURIComponent(s.id)}`, { position: i + 1 }));
    }
    say(`${what} moved ${direction < 0 ? "up" : "down"}.`);
  } catch (error) {
    say(`The order was not saved. ${explain(error)}`, "error");
  } finally {
    moving = false;
  }
}

function moveBlock(app, blocks, bi, direction, what) {
  const next = blocks.map(([gid, members]) => [gid, [...members]]);
  [next[bi], next[bi + direction]] = [next[bi + direction], next[bi]];
  return reorder(app, next, what, direction);
}

function moveInGroup(app, blocks, bi, si, direction, what) {
  const next = blocks.map(([gid, members]) => [gid, [...members]]);
  const members = next[bi][1];
  [members[si], members[si + direction]] = [members[si + direction], members[si]];
  return reorder(app, next, what, direction);
}

// -- forms ------------------------------------------------------------------------

function groupList(app) {
  const id = "group-names";
  return h("datalist", { id }, [...app.data.groups.values()].map((g) => h("option", { value: g.name })));
}

function serviceDialog(app, s) {
  const editing = Boolean(s);
  const group = editing && s.group_id && app.data.groups.get(s.group_id);
  formDialog(editing ? `Edit ${s.name}` : "New service", {
    submitLabel: editing ? "Save changes" : "Create service",
    fields: [
      field({ label: "Name", name: "name", value: editing ? s.name : "", required: true, autocomplete: "off" }),
      field({ label: "Description", name: "description", type: "textarea", rows: 2, value: editing ? s.description || "" : "", hint: "Shown under the name on the public page." }),
      field({ label: "Group", name: "group", value: group ? group.name : "", list: "group-names", autocomplete: "off", hint: "Services of one group are shown together. A new name makes a new group; leave it empty for none." }),
      groupList(app),
      field({ label: "Status", name: "status", type: "select", value: editing ? s.status : "operational", options: Object.entries(STATUS) }),
      field({ label: "Show its 90-day uptime bar", name: "showcase", type: "checkbox", value: editing ? s.showcase : true }),
      field({ label: "Hide it on the public page while operational", name: "only_show_if_degraded", type: "checkbox", value: editing ? s.only_show_if_degraded : false }),
      field({ label: "Show its response times on the public page", name: "show_response_times", type: "checkbox", value: editing ? s.show_response_times : false, hint: "A chart of its monitors' average response time in each of the last 24 hours (no monitor is named)." }),
    ],
    async submit(f) {
      const body = {
        name: value(f, "name"),
        description: value(f, "description").trim() || null,
        group: value(f, "group").trim() || null,
        status: value(f, "status"),
        showcase: value(f, "showcase"),
        only_show_if_degraded: value(f, "only_show_if_degraded"),
        show_response_times: value(f, "show_response_times"),
      };
      if (!editing) {
        const created = await app.api("POST", "/services", body);
        app.upsert("services", created);
        say(`Service ${created.name} created.`);
        return;
      }
      const before = { name: s.name, description: s.description || null, group: group ? group.name : null, status: s.status, showcase: s.showcase, only_show_if_degraded: s.only_show_if_degraded, show_response_times: Boolean(s.show_response_times) };
      const changes = Object.fromEntries(Object.entries(body).filter(([k, v]) => v !== before[k]));
      if (!Object.keys(changes).length) return;
      const saved = await app.api("PATCH", `/services/${encodeURIComponent(s.id)}`, changes);
      app.upsert("services", saved);
      say(`Service ${saved.name} saved.`);
    },
  });
}

function renameGroup(app, group, members) {
  formDialog(`Rename the group ${group.name}`, {
    submitLabel: "Rename group",
    intro: `Its ${members.length === 1 ? "service moves" : `${members.length} services move`} to the group with the new name (an existing group's name merges the two).`,
    fields: [field({ label: "Group name", name: "group", value: group.name, required: true, autocomplete: "off" })],
    async submit(f) {
      const name = value(f, "group");
      if (name.trim() === group.name) return;
      for (const s of members) {
        app.upsert("services", await app.api("PATCH", `/services/${encodeURIComponent(s.id)}`, { group: name }));
      }
      say(`Group renamed to ${name.trim()}.`);
    },
  });
}

function deleteDialog(app, s) {
  formDialog(`Delete ${s.name}?`, {
    submitLabel: "Delete service",
    danger: true,
    intro: "It disappears from the public page, with its uptime history. This cannot be undone.",
    fields: [],
    async submit() {
      await app.api("DELETE", `/services/${encodeURIComponent(s.id)}`);
      app.remove("services", s.id);
      say(`Service ${s.name} deleted.`);
    },
  });
}
