// Supervisor reports: a table and a chart of GET /api/reports/<kind> (docs/reports.md).
// The chart library (uPlot) is installed from npm by `make deps` and served from /vendor.
import { el } from "./common.js";

const form = document.getElementById("report-form");
const kind = document.getElementById("report-kind");
const from = document.getElementById("report-from");
const through = document.getElementById("report-through");
const interval = document.getElementById("report-interval");
const tz = document.getElementById("report-tz");
const csv = document.getElementById("report-csv");
const status = document.getElementById("report-status");
const chartBox = document.getElementById("report-chart");
const table = document.getElementById("report-table");

const LABELS = {
  interval_start: "Interval", key: "", offered: "Offered", answered: "Answered",
  abandoned: "Abandoned", abandon_wait_s: "Avg abandon wait", max_abandon_wait_s: "Longest abandon wait",
  overflowed: "Overflowed", answered_in_sl: "Answered in SL", service_level: "Service level",
  asa_s: "ASA", aht_s: "AHT", avg_wrapup_s: "Avg wrap-up", transfers: "Transfers",
  no_answers: "No answers", offers: "Offers", rejected: "Rejected", available_s: "Available",
  away_s: "Away", offline_s: "Offline", occupancy: "Occupancy",
  // supervisor actions (GET /api/reports/supervisor-actions)
  time: "Time", by: "By", action: "Action", agent: "Agent", request: "Request",
  session: "Session", channel: "Channel", status: "Status", reason: "Reason", queue: "Queue", previous: "Before",
};
const KEY_LABEL = { queues: "Queue", agents: "Agent", channels: "Channel", services: "Service" };
const SERIES = {
  contacts: [["offered", "Offered", "#1d4f91"], ["answered", "Answered", "#2a8f3c"], ["abandoned", "Abandoned", "#c0392b"]],
  agents: [["offers", "Offers", "#1d4f91"], ["answered", "Answered", "#2a8f3c"], ["no_answers", "No answers", "#c0392b"]],
};

let uPlot = null;
let chart = null;

function localDay(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function dayAfter(day) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

function cellText(column, value) {
  if (value === null || value === undefined) return "–";
  if (column === "service_level" || column === "occupancy") return `${(value * 100).toFixed(1)}%`;
  if (column.endsWith("_s")) return `${Number(value).toFixed(1)}s`;
  if (column === "interval_start") return value.replace("T", " ").slice(0, 16);
  return String(value);
}

function query(format) {
  const params = new URLSearchParams({
    from: from.value, to: dayAfter(through.value), interval: interval.value, tz: tz.value || "UTC",
  });
  if (format) params.set("format", format);
  return `/api/reports/${kind.value}?${params}`;
}

function render(report) {
  const head = el("tr");
  for (const c of report.columns) {
    head.append(el("th", { scope: "col" }, c === "key" ? KEY_LABEL[report.kind] : LABELS[c] || c));
  }
  table.tHead.replaceChildren(head);
  table.tBodies[0].replaceChildren(...report.rows.map((r) => {
    const tr = el("tr");
    for (const c of report.columns) {
      const text = c === "key" && !r[c] ? "(none)" : cellText(c, r[c]);
      tr.append(el("td", typeof r[c] === "number" ? { class: "num" } : {}, text));
    }
    return tr;
  }));
  status.textContent = report.rows.length
    ? `${report.rows.length} rows, ${report.start.slice(0, 10)} to ${report.end.slice(0, 10)} (${report.tz})`
    : "Nothing was recorded in this range.";
  draw(report);
}

function draw(report) {
  if (!uPlot) return; // the note saying why stays in its place
  if (chart) { chart.destroy(); chart = null; }
  chartBox.replaceChildren();
  if (!report.rows.length || report.kind === "supervisor-actions") return; // a list, no chart
  const series = SERIES[report.kind === "agents" ? "agents" : "contacts"];
  const sums = new Map();
  for (const r of report.rows) {
    const t = Date.parse(r.interval_start) / 1000;
    const acc = sums.get(t) || Object.fromEntries(series.map(([k]) => [k, 0]));
    for (const [k] of series) acc[k] += r[k] || 0;
    sums.set(t, acc);
  }
  const xs = [...sums.keys()].sort((a, b) => a - b);
  const data = [xs, ...series.map(([k]) => xs.map((x) => sums.get(x)[k]))];
  const zone = report.tz;
  chart = new uPlot({
    width: Math.min(960, chartBox.parentElement.clientWidth || 960),
    height: 260,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), zone),
    // The whole range, so a day with data among empty ones sits where it belongs.
    scales: { x: { time: true, range: [Date.parse(report.start) / 1000, Date.parse(report.end) / 1000] } },
    series: [{}, ...series.map(([, label, stroke]) => ({ label, stroke, width: 2, points: { show: true } }))],
    axes: [{}, { label: "contacts" }],
  }, data, chartBox);
}

async function show(event) {
  if (event) event.preventDefault();
  csv.href = query("csv");
  status.textContent = "Loading…";
  try {
    const r = await fetch(query("json"), { headers: { Accept: "application/json" } });
    const body = await r.json();
    if (!r.ok) throw new Error(body.message || `HTTP ${r.status}`);
    render(body);
  } catch (e) {
    status.textContent = `Report unavailable: ${e.message}`;
  }
}

async function loadChartLibrary() {
  try {
    uPlot = (await import("/vendor/uplot/uPlot.esm.js")).default;
    document.head.append(el("link", { rel: "stylesheet", href: "/vendor/uplot/uPlot.min.css" }));
  } catch {
    chartBox.replaceChildren(el("p", { class: "muted" }, "The chart library is not installed (run `make deps`); the table still works."));
  }
}

const today = new Date();
through.value = localDay(today);
from.value = localDay(new Date(today.getTime() - 6 * 86400000));
tz.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
form.addEventListener("submit", show);
for (const input of [kind, from, through, interval, tz]) input.addEventListener("change", () => { csv.href = query("csv"); });
await loadChartLibrary();
show();
