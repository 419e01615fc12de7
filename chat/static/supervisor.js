// Supervisor board: queues and agents, pushed live over /ws/supervisor.
import { el, connect } from "./common.js";

const queuesBody = document.querySelector("#queues tbody");
const agentsBody = document.querySelector("#agents tbody");
const updated = document.getElementById("updated");
const linkState = document.getElementById("link-state");
const agentRows = new Map();

function secs(v) { return v === null || v === undefined ? "–" : `${Math.round(v)}s`; }
function pct(v) { return v === null || v === undefined ? "–" : `${Math.round(v * 100)}%`; }

function row(cells) {
  const tr = el("tr");
  for (const c of cells) tr.append(el("td", {}, c));
  return tr;
}

function loadText(load, capacity) {
  const chans = new Set([...Object.keys(load || {}), ...Object.keys(capacity || {})]);
  return [...chans].sort().map((c) => `${c} ${(load || {})[c] || 0}/${(capacity || {})[c] ?? "?"}`).join(", ");
}

function board(f) {
  queuesBody.replaceChildren(...f.queues.map((q) => row([
    q.queue, q.channel, String(q.waiting), secs(q.longest_wait_s), secs(q.estimated_wait_s), pct(q.service_level),
  ])));
  agentRows.clear();
  agentsBody.replaceChildren(...f.agents.map((a) => {
    const tr = row([a.name ? `${a.id} (${a.name})` : a.id, a.status, a.reason || "", loadText(a.load, a.capacity)]);
    tr.dataset.agent = a.id;
    agentRows.set(a.id, tr);
    return tr;
  }));
  updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
}

const link = connect("/ws/supervisor", [], {
  onOpen: () => { linkState.textContent = "live"; link.send({ type: "hello" }); },
  onClose: () => { linkState.textContent = "reconnecting…"; },
  onFrame: (f) => {
    if (f.type === "board") board(f);
    else if (f.type === "agent_status") {
      const tr = agentRows.get(f.agent);
      if (tr) { tr.children[1].textContent = f.status; tr.children[2].textContent = f.reason || ""; }
    }
  },
});
