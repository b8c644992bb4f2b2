// A monitor's page: its verdict (live), what each region sees, a response-time
// chart by range and region, the daily uptime bars, its recent results
// (paged, with their errors), and the incidents it opened. A heartbeat's push
// URL can be made anew here (the old one stops working).

import { h, add, clear, redraw, say, explain, time, tag, formDialog, PROGRESS, IMPACT } from "./dom.js";
import { loading } from "./services.js";
import { ms, percent, responseChart, uptimeBars } from "./charts.js";
import { KINDS, target, duration, pushUrlBox } from "./monitor_form.js";
import { VERDICT, verdictBadge, regionStates, actionButtons } from "./monitors.js";

const RANGES = [
  ["24h", "24 hours"],
  ["7d", "7 days"],
  ["30d", "30 days"],
  ["90d", "90 days"],
];
const WINDOWS = [
  ["24h", "24 hours"],
  ["7d", "7 days"],
  ["30d", "30 days"],
  ["90d", "90 days"],
];
const RESULTS_PAGE = 20;
const REFRESH_MS = 30_000;
const OUTCOME = { up: "Up", degraded: "Degraded", down: "Down" };

export function monitorPage(app, main, ref) {
  const list = `/admin/${encodeURIComponent(app.org)}/monitors`;
  const state = {
    view: null, // GET .../monitors/<id>: the monitor and what its regions see now
    uptime: null,
    chart: null,
    range: "24h",
    chartError: null,
    results: [],
    next: null,
    resultsError: null,
    loadingOlder: false,
    incidents: null,
    seen: null, // the updated_at the page last read things for
  };
  const head = h("div", { class: "monitor-head" });
  const once = h("div", { class: "once" });
  const regionsBox = h("div", {});
  const chartBox = h("div", { class: "chart-box" });
  const uptimeBox = h("div", {});
  const resultsBox = h("div", {});
  const incidentsBox = h("div", {});
  const rangeButtons = RANGES.map(([id, label]) =>
    h("button", { type: "button", "data-key": `range-${id}`, "aria-pressed": id === state.range ? "true" : "false", onclick: () => setRange(id) }, label),
  );
  const body = h(
    "div",
    { class: "monitor-body", hidden: true },
    once,
    h("section", { "aria-labelledby": "regions-h" }, h("h2", { id: "regions-h" }, "Regions now"), regionsBox),
    h(
      "section",
      { "aria-labelledby": "chart-h" },
      h("div", { class: "section-head" }, h("h2", { id: "chart-h" }, "Response times"), h("div", { class: "range", role: "group", "aria-label": "Range of the chart" }, rangeButtons)),
      chartBox,
    ),
    h("section", { "aria-labelledby": "uptime-h" }, h("h2", { id: "uptime-h" }, "Uptime"), uptimeBox),
    h("section", { "aria-labelledby": "results-h" }, h("h2", { id: "results-h" }, "Recent results"), resultsBox),
    h("section", { "aria-labelledby": "incidents-h" }, h("h2", { id: "incidents-h" }, "Incidents it opened"), incidentsBox),
  );
  add(main, [h("p", { class: "back" }, h("a", { href: list, "data-route": "" }, "← All monitors")), head, body]);

  const monitor = () => app.data.monitors.get(ref) || [...app.data.monitors.values()].find((m) => m.name === ref) || null;
  const path = (m, rest = "") => `/monitors/${encodeURIComponent(m.id)}${rest}`;

  async function read(load) {
    try {
      return [await load(), null];
    } catch (error) {
      return [null, explain(error)];
    }
  }

  async function loadView(m) {
    const [view] = await read(() => app.api("GET", path(m)));
    if (view) state.view = view;
    drawRegions();
  }
  async function loadUptime(m) {
    const [uptime] = await read(() => app.api("GET", path(m, "/uptime")));
    if (uptime) state.uptime = uptime;
    drawUptime();
  }
  async function loadChart(m) {
    const range = state.range;
    const [answer, error] = await read(() => app.api("GET", path(m, `/response-times?range=${range}`)));
    if (range !== state.range) return;
    state.chart = answer || state.chart;
    state.chartError = error;
    drawChart();
  }
  async function loadIncidents(m) {
    const [answer] = await read(() => app.api("GET", path(m, "/incidents")));
    if (answer) state.incidents = answer.data;
    drawIncidents();
  }
  // The newest results, before those already shown.
  async function loadNewest(m) {
    const [page, error] = await read(() => app.api("GET", path(m, `/results?limit=${RESULTS_PAGE}`)));
    state.resultsError = error;
    if (page) {
      const key = (r) => `${r.at} ${r.region}`;
      const shown = new Set(state.results.map(key));
      const fresh = page.data.filter((r) => !shown.has(key(r)));
      if (!state.results.length) state.next = page.next;
      state.results = [...fresh, ...state.results].sort((a, b) => (a.at < b.at ? 1 : -1));
    }
    drawResults();
  }
  async function loadOlder() {
    if (!state.next || state.loadingOlder) return;
    state.loadingOlder = true;
    drawResults();
    const [page, error] = await read(() => app.api("GET", state.next));
    state.loadingOlder = false;
    state.resultsError = error;
    if (page) {
      state.results = [...state.results, ...page.data];
      state.next = page.next;
    }
    drawResults();
  }

  function setRange(range) {
    if (range === state.range) return;
    state.range = range;
    for (const b of rangeButtons) b.setAttribute("aria-pressed", b.dataset.key === `range-${range}` ? "true" : "false");
    const m = monitor();
    if (m) loadChart(m);
  }

  // -- drawing ------------------------------------------------------------------------

  function drawHead(m) {
    redraw(head, () => {
      if (!m) return app.data.ready ? h("section", { class: "problem" }, h("h1", {}, "Monitor not found"), h("p", {}, "It may have been deleted.")) : loading(app);
      const service = app.data.services.get(m.service_id);
      const notes = [];
      if (m.paused) notes.push(h("p", { class: "notice" }, "Paused: not checked, and its verdict is unknown until it is resumed."));
      if (m.flapping) notes.push(h("p", { class: "notice" }, "Flapping since ", time(m.flapping_since), ": its verdict changes too often to be told each time."));
      const view = state.view;
      if (view && view.quorum_note) notes.push(h("p", { class: "notice" }, view.quorum_note));
      if (m.error && m.verdict !== "up") notes.push(h("p", { class: "notice error-text" }, h("strong", {}, "Last failure: "), m.error));
      return [
        h(
          "div",
          { class: "view-head" },
          h("h1", {}, m.name),
          app.can("responder") ? actionButtons(app, m, { deleted: () => app.navigate(list) }) : null,
        ),
        h(
          "p",
          { class: "monitor-line" },
          verdictBadge(m),
          m.verdict_since && !m.paused ? h("span", { class: "muted" }, " since ", time(m.verdict_since)) : null,
        ),
        h(
          "p",
          { class: "lede muted" },
          `${KINDS[m.kind]}: ${target(m)}. `,
          service ? `Watches ${service.name}. ` : "",
          m.kind === "heartbeat" ? `Grace ${duration(m.grace)}.` : `Every ${duration(m.interval)} from ${m.regions.length ? m.regions.join(", ") : "every region"}, quorum ${m.quorum}.`,
        ),
        notes,
        m.kind === "heartbeat" ? heartbeatBox(m) : null,
      ];
    });
  }

  function heartbeatBox(m) {
    return h(
      "div",
      { class: "card heartbeat-box" },
      h("p", {}, "Your job calls its push URL each time it has run. The URL was shown once, when the monitor was made: a new one replaces it (the old one stops working at once)."),
      app.can("responder") ? h("button", { type: "button", "data-key": "new-push-url", onclick: () => renewDialog(m) }, "New push URL") : null,
    );
  }

  function renewDialog(m) {
    formDialog(`A new push URL for ${m.name}?`, {
      submitLabel: "Make a new push URL",
      intro: "The job must then call the new URL: the old one stops working at once.",
      fields: [],
      async submit() {
        const renewed = await app.api("POST", path(m, "/token"));
        add(clear(once), [pushUrlBox(renewed, renewed.heartbeat_token)]);
        say("A new push URL was made: copy it now.");
      },
    });
  }

  function drawRegions() {
    const m = monitor();
    redraw(regionsBox, () => {
      if (!m) return null;
      if (m.paused) return h("p", { class: "empty" }, "Paused: checked nowhere.");
      const regions = regionStates(m, state.view);
      if (!regions.length) return h("p", { class: "empty" }, state.view ? "No result since the server started; the first comes within its interval." : "Loading…");
      return h(
        "table",
        { class: "grid regions-table" },
        h("caption", { class: "vh" }, "What each region sees now"),
        h("thead", {}, h("tr", {}, ["Region", "State", "Last result", "Answer", "Why"].map((t) => h("th", { scope: "col" }, t)))),
        h(
          "tbody",
          {},
          regions.map((r) => {
            const state_ = r.live === false ? "stale" : r.state;
            const [icon, word] = VERDICT[state_] || ["", state_ === "stale" ? "Stale (counts no more)" : state_];
            return h(
              "tr",
              { "data-region": r.region },
              h("th", { scope: "row" }, r.region),
              h("td", { "data-label": "State" }, h("span", { class: ["verdict", `v-${state_}`] }, h("span", { class: "icon", "aria-hidden": "true" }, icon), ` ${word}`)),
              h("td", { "data-label": "Last result" }, r.last ? [OUTCOME[r.last.outcome] || r.last.outcome, " · ", time(r.last.at)] : "—"),
              h("td", { "data-label": "Answer" }, r.last ? [ms(r.last.latency_ms), r.last.status_code ? ` · HTTP ${r.last.status_code}` : ""] : "—"),
              h("td", { "data-label": "Why", class: "details" }, (r.last && r.last.error) || ""),
            );
          }),
        ),
      );
    });
  }

  let lastWidth = 0;
  function drawChart() {
    const m = monitor();
    clear(chartBox);
    if (!m) return;
    if (state.chartError) chartBox.append(h("p", { class: "error-text", role: "alert" }, `The response times could not be loaded. ${state.chartError}`));
    if (!state.chart) {
      if (!state.chartError) chartBox.append(h("p", { class: "muted" }, "Loading…"));
      return;
    }
    lastWidth = chartBox.clientWidth;
    const label = RANGES.find(([id]) => id === state.chart.range)[1];
    chartBox.append(responseChart(state.chart, { title: `Mean response times over ${label}, by region`, width: lastWidth || 720 }));
  }

  function drawUptime() {
    redraw(uptimeBox, () => {
      const u = state.uptime;
      if (!u) return h("p", { class: "muted" }, "Loading…");
      return [
        h(
          "dl",
          { class: "figures" },
          WINDOWS.map(([id, label]) => h("div", {}, h("dt", {}, label), h("dd", {}, percent(u.windows[id].uptime)))),
        ),
        uptimeBars(u.daily, { today: new Date(u.at) }),
        h("p", { class: "hint" }, "The share of the time its verdict was known that it was not down. A day is green at 99.95% or more, then amber, orange and red below 99%, 95%."),
      ];
    });
  }

  function drawResults() {
    redraw(resultsBox, () => {
      const rows = state.results;
      const parts = [];
      if (state.resultsError) parts.push(h("p", { class: "error-text", role: "alert" }, `Results could not be loaded. ${state.resultsError}`));
      if (!rows.length) parts.push(h("p", { class: "empty" }, state.resultsError ? "" : "No result yet."));
      else {
        parts.push(
          h(
            "table",
            { class: "grid results-table" },
            h("caption", { class: "vh" }, "Check results, newest first"),
            h("thead", {}, h("tr", {}, ["When", "Region", "Outcome", "Answer", "Words"].map((t) => h("th", { scope: "col" }, t)))),
            h(
              "tbody",
              {},
              rows.map((r) =>
                h(
                  "tr",
                  { class: `o-${r.outcome}` },
                  h("th", { scope: "row" }, time(r.at)),
                  h("td", { "data-label": "Region" }, r.region),
                  h("td", { "data-label": "Outcome" }, h("span", { class: ["verdict", `v-${r.outcome}`] }, h("span", { class: "icon", "aria-hidden": "true" }, VERDICT[r.outcome][0]), ` ${OUTCOME[r.outcome]}`)),
                  h("td", { "data-label": "Answer" }, ms(r.latency_ms), r.status_code ? ` · HTTP ${r.status_code}` : ""),
                  h("td", { "data-label": "Words", class: "details" }, r.error || r.message || ""),
                ),
              ),
            ),
          ),
        );
      }
      if (state.loadingOlder) parts.push(h("p", { class: "muted", role: "status" }, "Loading…"));
      else if (state.next) parts.push(h("div", { class: "more" }, h("button", { type: "button", "data-key": "older-results", onclick: loadOlder }, "Show older results")));
      return parts;
    });
  }

  function drawIncidents() {
    redraw(incidentsBox, () => {
      const found = state.incidents;
      if (!found) return h("p", { class: "muted" }, "Loading…");
      if (!found.length) return h("p", { class: "empty" }, "None. It opens one when it is down, under the incident policy.");
      return h(
        "ul",
        { class: "opened" },
        found.map((i) =>
          h(
            "li",
            {},
            h("a", { href: `/admin/incidents/${encodeURIComponent(i.id)}` }, i.name),
            " ",
            tag(PROGRESS[i.status], `progress progress-${i.status}`),
            " ",
            tag(IMPACT[i.impact], `impact impact-${i.impact}`),
            h("span", { class: "when" }, " Started ", time(i.started_at), i.resolved_at ? [", resolved ", time(i.resolved_at)] : null),
          ),
        ),
      );
    });
  }

  // -- keeping up -----------------------------------------------------------------------

  function refresh(m, { verdictMoved }) {
    loadView(m);
    loadNewest(m);
    loadIncidents(m);
    loadChart(m);
    if (verdictMoved) loadUptime(m);
  }

  let verdict = null;
  function update() {
    const m = monitor();
    drawHead(m);
    body.hidden = !m;
    if (!m) return;
    document.title = `${m.name} · Monitors · Switchboard`;
    if (state.seen === null) {
      state.seen = m.updated_at;
      verdict = m.verdict;
      refresh(m, { verdictMoved: true });
    } else if (m.updated_at !== state.seen) {
      state.seen = m.updated_at;
      refresh(m, { verdictMoved: m.verdict !== verdict });
      verdict = m.verdict;
    }
    drawRegions();
  }

  // The regions and results again at the monitor's pace (5 to 30 s).
  let timer = null;
  const again = () => {
    const m = monitor();
    if (m) {
      loadView(m);
      loadNewest(m);
    }
    timer = setTimeout(again, Math.min(Math.max(m ? m.interval : 30, 5), 30) * 1000);
  };
  timer = setTimeout(again, REFRESH_MS / 3);
  const chartTimer = setInterval(() => {
    const m = monitor();
    if (m) loadChart(m);
  }, 5 * REFRESH_MS);
  let resizing = null;
  const onResize = () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      if (state.chart && chartBox.clientWidth !== lastWidth) drawChart();
    }, 150);
  };
  addEventListener("resize", onResize);
  drawChart();
  drawUptime();
  drawResults();
  drawIncidents();
  update();
  return {
    update,
    destroy() {
      clearTimeout(timer);
      clearInterval(chartTimer);
      clearTimeout(resizing);
      removeEventListener("resize", onResize);
    },
  };
}
