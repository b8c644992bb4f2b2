// The days of the 90-day bars, each a button that opens a popover: the day's
// status and uptime, and the incidents and maintenances that touched the
// service that day, with links (/status/{org}/days.json, read when one opens).
//
// A bar is one tab stop: the arrow keys move between its days, Home and End
// to its ends (the days a phone hides are skipped). Enter, Space, a click or
// a tap opens the day's popover, right after the bar, so that Tab goes on
// into it; Escape or its Close button closes it and gives the focus back to
// the day; a tap elsewhere or the focus leaving it closes it too. Without this
// script the bars are pictures with a tooltip per day.

const esc = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const POP = "day-pop";

let org = null;
let known = null; // the last days.json read
let knownText = "";
let open = null; // {button, pop}

const shown = (b) => b.getClientRects().length > 0;
const daysOf = (bar) => [...bar.querySelectorAll(".d")].filter(shown);

// Make a bar's days buttons (once per bar: status.js keeps bars across redraws).
export function enhance(bar, serviceName) {
  if (!bar) return;
  if (!bar.dataset.summary) bar.dataset.summary = bar.getAttribute("aria-label");
  bar.setAttribute("aria-label", `${serviceName}: ${bar.dataset.summary}`);
  if (bar.dataset.days) return;
  bar.dataset.days = "buttons";
  bar.setAttribute("role", "group");
  for (const cell of [...bar.children]) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = cell.className;
    button.title = cell.title;
    button.dataset.date = cell.dataset.date;
    button.tabIndex = -1;
    button.setAttribute("aria-expanded", "false");
    cell.replaceWith(button);
  }
  const today = bar.lastElementChild;
  if (today) today.tabIndex = 0;
  bar.addEventListener("click", (event) => {
    const button = event.target.closest("button.d");
    if (button) toggle(button);
  });
  bar.addEventListener("keydown", (event) => move(bar, event));
}

function move(bar, event) {
  const days = daysOf(bar);
  const at = days.indexOf(document.activeElement);
  if (at < 0) return;
  const to = { ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: days.length - 1 }[event.key];
  if (to === undefined) {
    if (event.key === "Escape" && open) {
      event.preventDefault();
      close(true);
    }
    return;
  }
  event.preventDefault();
  const next = days[Math.max(0, Math.min(days.length - 1, to))];
  for (const b of bar.querySelectorAll(".d")) b.tabIndex = -1;
  next.tabIndex = 0;
  next.focus();
  if (open) show(next); // an open popover follows the day
}

function toggle(button) {
  if (open && open.button === button) close(false);
  else show(button);
}

function show(button) {
  close(false);
  const bar = button.parentElement;
  for (const b of bar.querySelectorAll(".d")) b.tabIndex = -1;
  button.tabIndex = 0;
  const pop = document.createElement("div");
  pop.className = "day-pop";
  pop.id = POP;
  pop.setAttribute("role", "group");
  pop.setAttribute("aria-labelledby", `${POP}-date`);
  bar.after(pop);
  button.setAttribute("aria-expanded", "true");
  button.setAttribute("aria-controls", POP);
  open = { button, pop };
  pop.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      close(true);
    }
  });
  pop.addEventListener("focusout", (event) => {
    const to = event.relatedTarget;
    if (open && open.pop === pop && to && !pop.contains(to) && to !== button) close(false);
  });
  draw();
  place();
  load(button);
}

// Close the popover; `refocus`: give the focus back to its day.
export function close(refocus) {
  if (!open) return;
  const { button, pop } = open;
  open = null;
  pop.remove();
  button.setAttribute("aria-expanded", "false");
  button.removeAttribute("aria-controls");
  if (refocus && button.isConnected) button.focus();
}

// Under the bar, its arrow over the day, kept inside the service's box.
function place() {
  const { button, pop } = open;
  const box = pop.offsetParent || document.body;
  const area = box.getBoundingClientRect();
  const day = button.getBoundingClientRect();
  const width = pop.offsetWidth;
  const centre = day.left + day.width / 2 - area.left;
  const left = Math.max(0, Math.min(area.width - width, centre - width / 2));
  pop.style.left = `${left}px`;
  pop.style.top = `${day.bottom - area.top + 8}px`;
  pop.style.setProperty("--arrow", `${Math.max(12, Math.min(width - 12, centre - left))}px`);
}

function draw() {
  const { button, pop } = open;
  const [date, ...rest] = button.title.split(": ");
  const state = rest.join(": ");
  const day = button.dataset.date;
  const service = button.closest("li.service").id.replace(/^service-/, "");
  let body;
  if (!known) {
    body = `<p class="muted day-pop-note">Loading…</p>`;
  } else if (known.error) {
    body = `<p class="day-pop-note">${esc(known.error)}</p>`;
  } else {
    const ids = ((known.services[service] || {})[day]) || [];
    const items = ids.map((id) => known.items[id]).filter(Boolean);
    body = items.length
      ? `<ul class="day-pop-items">${items.map((i) => `<li class="day-pop-${i.kind}"><a href="${esc(i.url)}">${esc(i.name)}</a> <span class="day-pop-meta">${esc(i.tag)} · ${esc(i.window)}</span></li>`).join("")}</ul>`
      : `<p class="muted day-pop-note">No incidents or maintenance.</p>`;
  }
  // The focus stays on the same control (by its place) when the content changes.
  const controls = () => [...pop.querySelectorAll("a, button")];
  const focused = controls().indexOf(document.activeElement);
  pop.innerHTML = `<div class="day-pop-head"><p class="day-pop-date" id="${POP}-date">${esc(date)}</p><button type="button" class="day-pop-close" aria-label="Close">✕</button></div><p class="day-pop-state">${esc(state)}</p>${body}`;
  pop.querySelector(".day-pop-close").addEventListener("click", () => close(true));
  if (focused >= 0) {
    const again = controls()[Math.min(focused, controls().length - 1)];
    if (again) again.focus();
  }
}

async function load(button) {
  try {
    const response = await fetch(`/status/${encodeURIComponent(org)}/days.json`, { cache: "no-cache" });
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    const text = await response.text();
    if (text === knownText) return; // as shown already
    known = JSON.parse(text);
    knownText = text;
  } catch (e) {
    if (!known || known.error) {
      known = { error: "What happened that day could not be loaded. Try again in a moment." };
      knownText = "";
    }
  }
  if (open && open.button === button) draw();
}

// A tap or click elsewhere closes the popover.
function outside(event) {
  if (!open) return;
  if (open.pop.contains(event.target) || event.target === open.button) return;
  if (event.target.closest && event.target.closest(".bar .d")) return; // the bar's click decides
  close(false);
}

export function start(slug) {
  org = slug;
  document.addEventListener("pointerdown", outside);
  addEventListener("resize", () => { if (open) place(); });
}

// The page was drawn again: the popover's day may be gone, or moved.
export function redrawn() {
  if (!open) return;
  if (!open.button.isConnected) close(false);
  else place();
}

// What happened may have changed (an incident, a maintenance): read it again.
export function stale() {
  if (open) load(open.button);
}
