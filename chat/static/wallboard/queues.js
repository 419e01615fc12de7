// The queues table (live figures from the router, the last 15 minutes / hour from the
// reports database) with quiet rows folded away, and the summary tiles above it.
import { el } from "../common.js";
import { clockCell, emptyRow, setText, syncRows, tick } from "./dom.js";
import { percent, queueKey } from "./format.js";

const COLUMNS = 10;
const NUMS = [2, 3, 4, 5, 6, 7, 8, 9];
const ZERO = { offered: 0, answered: 0, answered_in_sl: 0, abandoned: 0, overflowed: 0, service_level: null };

/** Live rows joined with the history's windows, busiest first. */
export function queueRows(state) {
  const rows = new Map();
  for (const q of state.board.queues) {
    rows.set(queueKey(q.queue, q.channel), { ...q, w15: ZERO, w60: ZERO });
  }
  for (const h of (state.history && state.history.queues) || []) {
    const k = queueKey(h.queue, h.channel);
    const row = rows.get(k) || {
      queue: h.queue, channel: h.channel, waiting: 0, longest_wait_s: 0, estimated_wait_s: null,
      service_level: null, answered: 0, free_agents: 0,
    };
    rows.set(k, { ...row, w15: h.windows["15m"] || ZERO, w60: h.windows["1h"] || ZERO });
  }
  const all = [...rows.values()];
  for (const r of all) {
    const w = r.w60;
    r.quiet = !r.waiting && !r.answered && !(w.offered || w.answered || w.abandoned || w.overflowed);
  }
  all.sort((a, b) => b.waiting - a.waiting || b.longest_wait_s - a.longest_wait_s
    || a.queue.localeCompare(b.queue) || a.channel.localeCompare(b.channel));
  return all;
}

export function renderQueues(root, state, { open, toggle }) {
  const body = root.querySelector("#queues tbody");
  const rows = queueRows(state);
  const quiet = rows.filter((r) => r.quiet);
  const shown = state.showQuiet ? rows : rows.filter((r) => !r.quiet);
  const items = shown.map((r) => ({ kind: "queue", r }));
  if (quiet.length) items.push({ kind: "fold", n: quiet.length });
  if (!rows.length) items.push({ kind: "empty" });
  const at = state.board.now;
  syncRows(body, items, (it) => (it.kind === "queue" ? `q:${queueKey(it.r.queue, it.r.channel)}` : it.kind),
    (it) => buildRow(it, open, toggle),
    (tr, it) => {
      if (it.kind === "fold") {
        setText(tr.querySelector(".wb-fold-text"), state.showQuiet
          ? `${it.n} quiet rows shown (nothing waiting, nothing in the last hour).`
          : `${it.n} quiet rows folded away (nothing waiting, nothing in the last hour).`);
        setText(tr.querySelector("button"), state.showQuiet ? "Fold them" : "Show them");
        tr.querySelector("button").setAttribute("aria-expanded", String(state.showQuiet));
        return;
      }
      if (it.kind !== "queue") return;
      const r = it.r;
      const td = tr.children;
      tr.classList.toggle("wb-quiet", r.quiet);
      setText(td[1], r.channel);
      setText(td[2], r.waiting);
      clockCell(td[3], r.waiting ? { base: r.longest_wait_s, at } : { base: null });
      if (!r.waiting) setText(td[3], "–");
      clockCell(td[4], r.estimated_wait_s === null ? {} : { base: r.estimated_wait_s });
      if (r.estimated_wait_s === null) setText(td[4], "–");
      setText(td[5], percent(r.w15.service_level));
      setText(td[6], percent(r.w60.service_level));
      setText(td[7], r.w60.answered);
      setText(td[8], r.w60.abandoned);
      setText(td[9], r.free_agents);
    });
  tick(body, state.serverNow());
}

function buildRow(it, open, toggle) {
  if (it.kind === "fold") {
    const tr = el("tr", { class: "wb-fold" });
    const td = el("td", { colspan: String(COLUMNS) });
    const button = el("button", { type: "button", class: "btn btn-small btn-quiet", "aria-controls": "queues" }, "Show them");
    button.addEventListener("click", toggle);
    td.append(el("span", { class: "wb-fold-text" }), " ", button);
    tr.append(td);
    return tr;
  }
  if (it.kind === "empty") {
    const tr = el("tr");
    tr.append(el("td", { colspan: String(COLUMNS) }, "No queues yet: load a routing strategy (PUT /api/strategy)."));
    return tr;
  }
  const tr = emptyRow(COLUMNS, NUMS);
  const name = el("button", { type: "button", class: "wb-link wb-queue-name", title: `Waiting contacts and agents of ${it.r.queue} (${it.r.channel})` }, it.r.queue);
  name.addEventListener("click", () => open(it.r.queue, it.r.channel));
  tr.children[0].append(name);
  tr.dataset.queue = it.r.queue;
  tr.dataset.channel = it.r.channel;
  return tr;
}

export function renderTiles(root, state) {
  const box = root.querySelector("#wb-tiles");
  const rows = queueRows(state);
  const sum = (f) => rows.reduce((n, r) => n + f(r), 0);
  const waiting = sum((r) => r.waiting);
  const longest = Math.max(0, ...rows.filter((r) => r.waiting).map((r) => r.longest_wait_s));
  const decided = (w) => w.answered + w.abandoned + w.overflowed;
  const sl = (key) => {
    const d = sum((r) => decided(r[key]));
    return d ? sum((r) => r[key].answered_in_sl) / d : null;
  };
  const agents = state.board.agents;
  const tiles = [
    ["waiting", "Waiting now", String(waiting), waiting > 0],
    ["longest", "Longest wait", null, false],
    ["sl15", "Service level, 15 min", percent(sl("w15")), false],
    ["sl60", "Service level, hour", percent(sl("w60")), false],
    ["answered", "Answered, hour", String(sum((r) => r.w60.answered)), false],
    ["abandoned", "Abandoned, hour", String(sum((r) => r.w60.abandoned)), sum((r) => r.w60.abandoned) > 0],
    ["agents", "Agents logged in", String(agents.filter((a) => a.activity !== "offline").length), false],
  ];
  syncRows(box, tiles, (t) => t[0], (t) => {
    const div = el("div", { class: "wb-tile", id: `wb-tile-${t[0]}` });
    div.append(el("div", { class: "wb-value" }), el("div", { class: "wb-label" }, t[1]));
    return div;
  }, (div, t) => {
    const value = div.querySelector(".wb-value");
    if (t[0] === "longest") {
      clockCell(value, waiting ? { base: longest, at: state.board.now } : {});
      if (!waiting) setText(value, "–");
    } else {
      setText(value, t[2]);
    }
    div.classList.toggle("is-alert", t[3]);
  });
  tick(box, state.serverNow());
}
