// The last hour as two uPlot charts (waiting contacts; rolling 15-minute service level),
// one line per queue and channel that had anything in the hour. uPlot comes from npm
// (`make deps`) and is served under /vendor, as for the reports view.
import { el } from "../common.js";

const COLOURS = ["#3142c4", "#0b7a55", "#b3261e", "#9a4d00", "#6b3fa0", "#00788a", "#8a6d00", "#c2185b"];
const MAX_LINES = COLOURS.length;
let uPlot = null;
const charts = {};

export async function loadChartLibrary() {
  try {
    uPlot = (await import("/vendor/uplot/uPlot.esm.js")).default;
    document.head.append(el("link", { rel: "stylesheet", href: "/vendor/uplot/uPlot.min.css" }));
  } catch {
    for (const id of ["wb-chart-waiting", "wb-chart-sl"]) {
      document.getElementById(id).replaceChildren(el("p", { class: "wb-note" },
        "The chart library is not installed (run `make deps`); the tables still work."));
    }
  }
}

export function drawCharts(root, history) {
  if (!uPlot || !history || !history.points) return;
  const lines = history.queues
    .map((q) => ({ q, weight: Math.max(...q.series.waiting) + q.windows["1h"].offered }))
    .sort((a, b) => b.weight - a.weight)
    .slice(0, MAX_LINES)
    .map(({ q }) => q);
  const xs = history.points.map((t) => t / 1000);
  draw(root.querySelector("#wb-chart-waiting"), "waiting", xs, lines,
    (q) => q.series.waiting, { axis: "contacts", range: (u, min, max) => [0, Math.max(2, max)] });
  draw(root.querySelector("#wb-chart-sl"), "sl", xs, lines,
    (q) => q.series.service_level.map((v) => (v === null ? null : Math.round(v * 1000) / 10)),
    { axis: "%", range: () => [0, 100] });
}

function draw(box, name, xs, lines, values, { axis, range }) {
  const key = lines.map((q) => `${q.queue}/${q.channel}`).join(",");
  const data = [xs, ...lines.map(values)];
  const old = charts[name];
  if (old && old.key === key) {
    old.plot.setData(data);
    return;
  }
  if (old) old.plot.destroy();
  box.replaceChildren();
  if (!lines.length) {
    box.append(el("p", { class: "wb-note" }, "Nothing happened in the last hour."));
    charts[name] = null;
    return;
  }
  const plot = new uPlot({
    width: Math.max(320, Math.min(640, box.clientWidth || 480)),
    height: 200,
    scales: { x: { time: true }, y: { range } },
    series: [{}, ...lines.map((q, i) => ({
      label: `${q.queue} ${q.channel}`, stroke: COLOURS[i], width: 2, spanGaps: false,
      points: { show: true, size: 4 }, // a single minute with a value still shows
    }))],
    axes: [{}, { label: axis }],
  }, data, box);
  charts[name] = { key, plot };
}
