// Probes (/admin/probes, the server's operators): the regions monitors are
// checked from, each probe's last report and how long ago that was, whether
// it is live, how many monitors it checks, how late its checks start (as a
// remote probe reports it now and then); and the server's own scheduler
// (how late its checks start, p50 and p99). GET /api/v1/monitoring, read
// again every few seconds while the page is open.

import { h, add, redraw, say, explain, time, formDialog } from "./dom.js";

const REFRESH_MS = 5_000;

// "12 s", "3 min", "2 h 5 min"
export function ago(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 90) return `${m} min`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function lagText(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  return seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(1)} s`;
}

// A region's scheduler, as its probe last reported it: "p50 4 ms · p99 20 ms".
function startLag(scheduler) {
  const lag = scheduler && scheduler.lag_seconds;
  if (!lag || lag.p50 === null || lag.p50 === undefined) return h("span", { class: "muted" }, "not reported yet");
  return `p50 ${lagText(lag.p50)} · p99 ${lagText(lag.p99)}`;
}

function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return `${v < 10 && i ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function probesView(app, main) {
  const box = h("div", {});
  const state = { stats: null, error: null, at: null };
  add(main, [
    h(
      "div",
      { class: "view-head" },
      h("h1", {}, "Probes"),
      h("button", { type: "button", "data-key": "refresh", onclick: () => load(true) }, "Refresh"),
    ),
    h("p", { class: "lede muted" }, "The server's own probe and the remote ones (switchboard probe --region …): a region whose probe is silent is offline and counts for no monitor's quorum until it reports again."),
    box,
  ]);

  async function load(asked = false) {
    try {
      state.stats = await app.api("GET", "/api/v1/monitoring");
      state.at = Date.now();
      state.error = null;
      if (asked) say("Probes read again.");
    } catch (error) {
      state.error = explain(error);
    }
    draw();
  }

  function draw() {
    redraw(box, () => {
      const s = state.stats;
      const parts = [];
      if (state.error) parts.push(h("p", { class: "notice error-text", role: "alert" }, `The probes could not be read. ${state.error}`));
      if (!s) {
        if (!state.error) parts.push(h("p", { class: "muted", role: "status" }, "Loading…"));
        return parts;
      }
      parts.push(
        h("section", { "aria-labelledby": "regions-h" }, h("h2", { id: "regions-h" }, "Regions"), regionsTable(s)),
        h("section", { "aria-labelledby": "scheduler-h" }, h("h2", { id: "scheduler-h" }, `The server's scheduler (${s.region || "no probe"})`), scheduler(s)),
      );
      return parts;
    });
  }

  function regionsTable(s) {
    const regions = s.regions || [];
    if (!regions.length) return h("p", { class: "empty" }, "No probe reports: the server was started with --no-probe and no remote probe has connected.");
    const now = Date.now();
    return h(
      "table",
      { class: "grid probes-table" },
      h("caption", { class: "vh" }, "Probe regions"),
      h("thead", {}, h("tr", {}, ["Region", "State", "Last report", "Lag", "Checks start late", "Monitors", "Connected"].map((t) => h("th", { scope: "col" }, t)), h("th", { scope: "col", class: "actions-col" }, h("span", { class: "vh" }, "Actions")))),
      h(
        "tbody",
        {},
        regions.map((r) => {
          const seen = r.last_seen ? (now - Date.parse(r.last_seen)) / 1000 : null;
          const live = r.state === "live";
          return h(
            "tr",
            { "data-region": r.region, class: live ? "p-live" : "p-offline" },
            h("th", { scope: "row" }, h("span", { class: "name" }, r.region), r.own ? h("span", { class: "desc" }, "this server's own") : null),
            h(
              "td",
              { "data-label": "State" },
              h("span", { class: ["verdict", live ? "v-up" : "v-down"] }, h("span", { class: "icon", "aria-hidden": "true" }, live ? "✓" : "✕"), live ? " Online" : " Offline"),
              r.since ? h("span", { class: "desc" }, "since ", time(r.since)) : null,
            ),
            h("td", { "data-label": "Last report" }, r.last_seen ? time(r.last_seen) : "none yet"),
            h("td", { "data-label": "Lag" }, seen === null ? "—" : `${ago(seen)} ago`),
            h("td", { "data-label": "Checks start late" }, startLag(r.scheduler)),
            h("td", { "data-label": "Monitors" }, String(r.monitors)),
            h("td", { "data-label": "Connected" }, r.own ? "—" : r.connected ? "Yes" : "No"),
            h("td", { class: "actions-cell" }, !live && !r.own ? h("button", { type: "button", class: "danger", "data-key": `forget-${r.region}`, onclick: () => forget(r.region) }, "Forget", h("span", { class: "vh" }, ` region ${r.region}`)) : null),
          );
        }),
      ),
    );
  }

  function scheduler(s) {
    const lag = s.lag_seconds || {};
    const figures = [
      ["Start lag p50", lagText(lag.p50)],
      ["Start lag p99", lagText(lag.p99)],
      ["Start lag max", lagText(lag.max)],
      ["Monitors", String(s.monitors)],
      ["Checked here", String(s.checked_here)],
      ["Running now", String(s.running)],
      ["Checks started", String(s.checks_started)],
      ["Checks skipped", String(s.checks_skipped)],
      ["Results since start", String(s.results)],
      ["Results waiting", String(s.results_waiting)],
      ["Results stored", bytes(s.storage_bytes && s.storage_bytes.results)],
      ["Rollups stored", bytes(s.storage_bytes && s.storage_bytes.rollups)],
    ];
    return [
      h("dl", { class: "figures wide" }, figures.map(([t, v]) => h("div", {}, h("dt", {}, t), h("dd", {}, v)))),
      h("p", { class: "hint" }, "How late the server's own checks start after they are due (a skipped check was still running from its last turn). Read ", time(new Date(state.at).toISOString()), "."),
    ];
  }

  function forget(region) {
    formDialog(`Forget the region ${region}?`, {
      submitLabel: "Forget region",
      danger: true,
      intro: "For a retired probe: the region is known no more, and monitors checked everywhere no longer wait for it. A probe that reports from it again brings it back.",
      fields: [],
      async submit() {
        await app.api("DELETE", `/api/v1/monitoring/regions/${encodeURIComponent(region)}`);
        say(`Region ${region} forgotten.`);
        load();
      },
    });
  }

  const timer = setInterval(load, REFRESH_MS);
  draw();
  load();
  return {
    destroy() {
      clearInterval(timer);
    },
  };
}
