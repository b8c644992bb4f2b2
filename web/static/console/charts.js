// Charts drawn by hand in SVG, coloured by the theme's custom properties
// (console.css): a response-time chart with a line per region, a sparkline,
// and daily uptime bars. Each is read by keyboard too: focused, the arrow
// keys move through its points and a live line says what is there; a table
// of the same figures sits under it.

import { h, uid } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const pad = (n) => String(n).padStart(2, "0");
const SERIES = 6; // --series-1..6, with a dash pattern each: colour is never the only sign

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// "41 ms", "1.2 s"
export function ms(value) {
  if (value === null || value === undefined) return "—";
  if (value >= 10_000) return `${(value / 1000).toFixed(0)} s`;
  if (value >= 1000) return `${(value / 1000).toFixed(1)} s`;
  return `${Math.round(value)} ms`;
}

// "99.95%"; null: no figure.
export function percent(value) {
  if (value === null || value === undefined) return "—";
  if (value === 100) return "100%";
  return `${Math.min(value, 99.99).toFixed(2)}%`;
}

function hourLabel(t) {
  return `${pad(t.getUTCHours())}:00`;
}
function dayLabel(t) {
  return `${MONTHS[t.getUTCMonth()]} ${t.getUTCDate()}`;
}
// `Mar 3, 14:00 UTC` (a step of hours) or `Mar 3` (days).
function stepLabel(t, stepSeconds) {
  return stepSeconds >= 86_400 ? dayLabel(t) : `${dayLabel(t)}, ${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())} UTC`;
}

// A round top for an axis, and its ticks.
function niceScale(max, count = 4) {
  if (!(max > 0)) return { top: 100, ticks: [0, 25, 50, 75, 100] };
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  const top = step * Math.ceil(max / step);
  const ticks = [];
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(v);
  return { top, ticks };
}

// Where the x axis puts its labels over [from, to], for a range of this span,
// at least `room` pixels apart on a plot `width` wide.
function timeTicks(from, to, width, room = 60) {
  const span = to - from;
  const hour = 3_600_000;
  const day = 24 * hour;
  const every = span <= 2 * day ? 6 * hour : span <= 8 * day ? day : span <= 31 * day ? 5 * day : 15 * day;
  const ticks = [];
  let t = Math.ceil(from / every) * every;
  for (; t <= to; t += every) ticks.push(t);
  let spaced = ticks;
  for (let n = 2; spaced.length > 1 && width / spaced.length < room; n += 1) spaced = ticks.filter((_, i) => i % n === 0);
  const label = every < day ? (x) => hourLabel(new Date(x)) : every === day ? (x) => `${DAYS[new Date(x).getUTCDay()]} ${new Date(x).getUTCDate()}` : (x) => dayLabel(new Date(x));
  return spaced.map((x) => [x, label(x)]);
}

// Keys that move through `count` positions: ← → Home End (and PageUp/Down by ten).
function stepper(element, count, show) {
  let at = -1;
  element.addEventListener("keydown", (event) => {
    const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowDown: -1, ArrowUp: 1, PageDown: -10, PageUp: 10 };
    let next = at;
    if (event.key in moves) next = at < 0 ? (moves[event.key] > 0 ? 0 : count - 1) : at + moves[event.key];
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = count - 1;
    else return;
    event.preventDefault();
    at = Math.max(0, Math.min(count - 1, next));
    show(at);
  });
  element.addEventListener("blur", () => {
    at = -1;
    show(-1);
  });
  return {
    set(i) {
      at = i;
      show(i);
    },
  };
}

// The response-time chart of `answer` (GET .../response-times): a line per
// region through the mean times of its steps, broken where a step had no
// answer, a dot on each point. `title` names it for screen readers; `width`
// is the pixels it has (drawn to them, so that its words keep their size).
export function responseChart(answer, { title, width = 720 }) {
  const regions = answer.regions;
  const from = Date.parse(answer.from);
  const stepMs = answer.step_seconds * 1000;
  // To the end of the step under way: its point sits in its middle, as every step's.
  const to = from + Math.ceil((Date.parse(answer.at) - from) / stepMs) * stepMs;
  const W = Math.max(300, Math.round(width));
  const H = 240;
  const left = 56;
  const right = 12;
  const top = 12;
  const bottom = 30;
  const x = (t) => left + ((t - from) / Math.max(1, to - from)) * (W - left - right);
  let max = 0;
  for (const r of regions) for (const p of r.points) if (p.avg_ms !== null) max = Math.max(max, p.avg_ms);
  const scale = niceScale(max);
  const y = (v) => top + (1 - v / scale.top) * (H - top - bottom);

  // Every step that has a point in some region: what the keys move through.
  const steps = [...new Set(regions.flatMap((r) => r.points.map((p) => Date.parse(p.at))))].sort((a, b) => a - b);
  const byStep = new Map(steps.map((t) => [t, []]));
  regions.forEach((r, i) => {
    for (const p of r.points) byStep.get(Date.parse(p.at)).push([r.region, i, p]);
  });

  const grid = scale.ticks.map((v) =>
    svg("g", { class: "tick" }, svg("line", { x1: left, x2: W - right, y1: y(v), y2: y(v) }), svg("text", { x: left - 8, y: y(v) + 4, "text-anchor": "end" }, ms(v))),
  );
  const xTicks = timeTicks(from, to, W - left - right).map(([t, label]) =>
    svg("g", { class: "tick x" }, svg("line", { x1: x(t), x2: x(t), y1: H - bottom, y2: H - bottom + 5 }), svg("text", { x: x(t), y: H - 8, "text-anchor": "middle" }, label)),
  );
  const lines = regions.map((r, i) => {
    const cls = `series s${(i % SERIES) + 1}`;
    let d = "";
    let prev = null;
    const dots = [];
    for (const p of r.points) {
      const t = Date.parse(p.at) + stepMs / 2;
      if (p.avg_ms === null) {
        prev = null;
        continue;
      }
      const px = x(t).toFixed(1);
      const py = y(p.avg_ms).toFixed(1);
      d += prev !== null && t - prev <= stepMs * 1.01 ? ` L${px} ${py}` : ` M${px} ${py}`;
      prev = t;
      dots.push(svg("circle", { class: "pt", cx: px, cy: py, r: 2.5 }));
    }
    return svg("g", { class: cls, "data-region": r.region }, d ? svg("path", { d: d.trim() }) : null, dots);
  });
  const cursor = svg("line", { class: "cursor", x1: 0, x2: 0, y1: top, y2: H - bottom, visibility: "hidden" });
  const plot = svg(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "chart-svg", "aria-hidden": "true", focusable: "false" },
    svg("g", { class: "grid" }, grid),
    svg("line", { class: "axis", x1: left, x2: W - right, y1: H - bottom, y2: H - bottom }),
    xTicks,
    lines,
    cursor,
  );

  const readoutId = uid("readout");
  const hint = steps.length ? "Use the arrow keys to read each point." : "";
  const readout = h("p", { class: "readout", id: readoutId, "aria-live": "polite" }, steps.length ? hint : "No response times in this range yet.");
  const summary = regions.length
    ? `${title}: ${regions.map((r) => `${r.region} ${describeSeries(r.points)}`).join("; ")}.`
    : `${title}: no response times in this range yet.`;
  const box = h("div", { class: "chart-plot", tabindex: steps.length ? "0" : null, role: "img", "aria-label": summary, "aria-describedby": readoutId }, plot);

  function show(i) {
    if (i < 0) {
      cursor.setAttribute("visibility", "hidden");
      readout.textContent = hint;
      for (const dot of plot.querySelectorAll(".pt.on")) dot.classList.remove("on");
      return;
    }
    const t = steps[i];
    const cx = x(t + stepMs / 2);
    cursor.setAttribute("x1", cx.toFixed(1));
    cursor.setAttribute("x2", cx.toFixed(1));
    cursor.setAttribute("visibility", "visible");
    const parts = byStep.get(t).map(([region, , p]) => `${region} ${ms(p.avg_ms)} (slowest ${ms(p.max_ms)}, ${p.checks} checks${p.down ? `, ${p.down} failed` : ""})`);
    readout.textContent = `${stepLabel(new Date(t), answer.step_seconds)}: ${parts.join("; ")}`;
  }
  const keys = stepper(box, steps.length, show);
  box.addEventListener("pointermove", (event) => {
    if (!steps.length) return;
    const rect = box.getBoundingClientRect();
    const t = from + ((event.clientX - rect.left) / rect.width * W - left) / (W - left - right) * (to - from);
    let best = 0;
    steps.forEach((s, i) => {
      if (Math.abs(s + stepMs / 2 - t) < Math.abs(steps[best] + stepMs / 2 - t)) best = i;
    });
    keys.set(best);
  });
  box.addEventListener("pointerleave", () => {
    if (document.activeElement !== box) show(-1);
  });

  const legend = h(
    "ul",
    { class: "chart-legend" },
    regions.map((r, i) => h("li", { class: `s${(i % SERIES) + 1}` }, h("span", { class: "swatch", "aria-hidden": "true" }), r.region)),
  );
  return h("figure", { class: "chart" }, box, legend, readout, dataTable(answer));
}

function describeSeries(points) {
  const times = points.map((p) => p.avg_ms).filter((v) => v !== null);
  if (!times.length) return "no answer";
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  return `from ${ms(Math.min(...times))} to ${ms(Math.max(...times))}, ${ms(mean)} on average over ${times.length} points`;
}

// The chart's figures as a table (each step, each region's mean time).
function dataTable(answer) {
  const regions = answer.regions;
  const steps = [...new Set(regions.flatMap((r) => r.points.map((p) => p.at)))].sort().reverse();
  if (!steps.length) return null;
  const cell = new Map(regions.flatMap((r) => r.points.map((p) => [`${r.region} ${p.at}`, p])));
  return h(
    "details",
    { class: "chart-table" },
    h("summary", {}, "Show the figures as a table"),
    h(
      "div",
      { class: "table-scroll", tabindex: "0", role: "region", "aria-label": "Response times by step and region" },
      h(
        "table",
        { class: "grid compact" },
        h("caption", { class: "vh" }, "Mean response time by step (UTC) and region"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "From"), regions.map((r) => h("th", { scope: "col" }, r.region)))),
        h(
          "tbody",
          {},
          steps.map((at) =>
            h(
              "tr",
              {},
              h("th", { scope: "row" }, stepLabel(new Date(at), answer.step_seconds)),
              regions.map((r) => {
                const p = cell.get(`${r.region} ${at}`);
                return h("td", {}, p ? ms(p.avg_ms) : "—");
              }),
            ),
          ),
        ),
      ),
    ),
  );
}

// A small line of the last hours' mean times (hourly points), for a list.
export function sparkline(points, { width = 96, height = 24 } = {}) {
  const values = points.filter((p) => p.avg_ms !== null);
  if (values.length < 1) return h("span", { class: "muted" }, "—");
  const max = Math.max(...values.map((p) => p.avg_ms)) || 1;
  const first = Date.parse(points[0].hour);
  const last = Date.parse(points[points.length - 1].hour);
  const x = (p) => (last === first ? width / 2 : ((Date.parse(p.hour) - first) / (last - first)) * (width - 4) + 2);
  const y = (p) => height - 2 - (p.avg_ms / max) * (height - 4);
  const d = values.map((p, i) => `${i ? "L" : "M"}${x(p).toFixed(1)} ${y(p).toFixed(1)}`).join(" ");
  const low = Math.min(...values.map((p) => p.avg_ms));
  return h(
    "span",
    { class: "spark" },
    svg(
      "svg",
      { viewBox: `0 0 ${width} ${height}`, width, height, "aria-hidden": "true", focusable: "false" },
      values.length > 1 ? svg("path", { d }) : null,
      svg("circle", { cx: x(values[values.length - 1]).toFixed(1), cy: y(values[values.length - 1]).toFixed(1), r: 2 }),
    ),
    h("span", { class: "vh" }, `Hourly mean response times: from ${ms(low)} to ${ms(max)}`),
  );
}

// A day's uptime as the public page's bar colours say a service's day.
export function dayClass(uptime) {
  if (uptime === null || uptime === undefined) return "s-none";
  if (uptime >= 99.95) return "s-operational";
  if (uptime >= 99) return "s-degraded_performance";
  if (uptime >= 95) return "s-partial_outage";
  return "s-major_outage";
}

// The last `days` UTC days' uptime (GET .../uptime's `daily`), a cell a day.
export function uptimeBars(daily, { days = 90, today = new Date() } = {}) {
  const known = new Map(daily.map((d) => [d.day, d]));
  const cells = [];
  for (let n = days - 1; n >= 0; n -= 1) {
    const t = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - n));
    const key = `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}`;
    const d = known.get(key);
    const words = d ? `${dayLabel(t)}: ${percent(d.uptime)} uptime, ${d.checks} checks${d.down ? `, ${d.down} failed` : ""}` : `${dayLabel(t)}: no data`;
    cells.push([words, h("span", { class: ["d", dayClass(d ? d.uptime : null)], title: words })]);
  }
  const measured = daily.filter((d) => d.uptime !== null);
  const below = measured.filter((d) => d.uptime < 99.95).length;
  const readoutId = uid("readout");
  const summary = measured.length
    ? `Daily uptime over ${days} days: ${measured.length} days measured, ${below ? `${below} below 99.95%` : "all at 99.95% or more"}.`
    : `Daily uptime over ${days} days: no day measured yet.`;
  const bar = h("div", { class: "bar monitor-bar", tabindex: "0", role: "img", "aria-label": summary, "aria-describedby": readoutId }, cells.map(([, cell]) => cell));
  const hint = "Use the arrow keys to read each day.";
  const readout = h("p", { class: "readout", id: readoutId, "aria-live": "polite" }, hint);
  stepper(bar, cells.length, (i) => {
    for (const on of bar.querySelectorAll(".d.on")) on.classList.remove("on");
    if (i < 0) {
      readout.textContent = hint;
      return;
    }
    cells[i][1].classList.add("on");
    readout.textContent = cells[i][0];
  });
  return h(
    "div",
    { class: "bars" },
    bar,
    h("p", { class: "bar-legend", "aria-hidden": "true" }, h("span", {}, `${days} days ago`), h("span", {}, "Today")),
    readout,
  );
}
