// Agents by activity (ringing, busy, wrap-up, idle, away, logged out) with the time in it;
// logged-out agents folded away. Also the agent rows of a queue's drill-down.
import { el } from "../common.js";
import { askForceStatus } from "./actions.js";
import { clockCell, emptyRow, setText, syncRows, tick } from "./dom.js";
import { ACTIVITIES, ACTIVITY_LABEL, loadText } from "./format.js";

const COLUMNS = 6;

/** Agents grouped by activity into one tbody each (`table` keeps its thead). */
export function renderAgents(table, state, agents, { toggle }) {
  const groups = ACTIVITIES.map((activity) => ({
    activity, agents: agents.filter((a) => a.activity === activity),
  })).filter((g) => g.agents.length);
  const bodies = [...table.tBodies];
  const old = new Map(bodies.map((b) => [b.dataset.key, b]));
  groups.forEach((g) => {
    let body = old.get(g.activity);
    old.delete(g.activity);
    if (!body) {
      body = el("tbody", { class: `wb-agents-${g.activity}` });
      body.dataset.key = g.activity;
    }
    table.append(body); // keeps the activity order
    const folded = g.activity === "offline" && !state.showOffline;
    const items = [{ head: g }, ...(folded ? [] : g.agents)];
    syncRows(body, items, (it) => (it.head ? "head" : `a:${it.id}`),
      (it) => (it.head ? groupHead(toggle) : agentRow(it)),
      (tr, it) => (it.head ? updateHead(tr, it.head, folded) : updateAgent(tr, it)));
  });
  for (const body of old.values()) body.remove();
  if (!groups.length) {
    const body = el("tbody", { "data-key": "none" });
    const tr = el("tr");
    tr.append(el("td", { colspan: String(COLUMNS) }, "No agents yet: create them with PUT /api/agents/<id>."));
    body.append(tr);
    table.append(body);
  }
  tick(table, state.serverNow());
}

function groupHead(toggle) {
  const tr = el("tr", { class: "wb-group" });
  const th = el("th", { colspan: String(COLUMNS), scope: "rowgroup" });
  th.append(el("span", { class: "wb-group-name" }));
  tr.append(th);
  tr.toggle = toggle;
  return tr;
}

function updateHead(tr, g, folded) {
  const th = tr.firstChild;
  setText(th.querySelector(".wb-group-name"), `${ACTIVITY_LABEL[g.activity]} (${g.agents.length})`);
  let button = th.querySelector("button");
  if (g.activity === "offline") {
    if (!button) {
      button = el("button", { type: "button", class: "btn btn-small btn-quiet" });
      button.addEventListener("click", tr.toggle);
      th.append(" ", button);
    }
    setText(button, folded ? "Show them" : "Fold them");
    button.setAttribute("aria-expanded", String(!folded));
  }
}

/** One agent's row (used by the board and the drill-down). */
export function agentRow(a) {
  const tr = emptyRow(COLUMNS, [2]);
  tr.dataset.agent = a.id;
  tr.children[1].append(el("span", { class: "wb-activity" }), el("span", { class: "wb-extra" }));
  const away = el("button", { type: "button", class: "btn btn-small wb-set-away" }, "Set away…");
  const out = el("button", { type: "button", class: "btn btn-small btn-danger wb-log-out" }, "Log out…");
  away.addEventListener("click", () => askForceStatus(tr.agent, "away"));
  out.addEventListener("click", () => askForceStatus(tr.agent, "offline"));
  const box = el("div", { class: "wb-actions" });
  box.append(away, out);
  tr.children[5].append(box);
  return tr;
}

export function updateAgent(tr, a) {
  tr.agent = a;
  const td = tr.children;
  setText(td[0], a.name ? `${a.name} (${a.id})` : a.id);
  const pill = td[1].querySelector(".wb-activity");
  pill.className = `wb-activity is-${a.activity}`;
  setText(pill, ACTIVITY_LABEL[a.activity] || a.activity);
  const extra = [];
  if (a.contacts && a.activity !== "busy") extra.push(`${a.contacts} in progress`);
  if (a.offers && a.activity !== "ringing") extra.push(`${a.offers} ringing`);
  setText(td[1].querySelector(".wb-extra"), extra.length ? ` ${extra.join(", ")}` : "");
  if (a.activity === "wrap-up") clockCell(td[2], { until: a.until });
  else clockCell(td[2], { since: a.since });
  setText(td[3], a.reason || "");
  setText(td[4], loadText(a.load, a.capacity));
  const away = td[5].querySelector(".wb-set-away");
  const out = td[5].querySelector(".wb-log-out");
  away.hidden = a.activity === "offline";
  out.hidden = a.activity === "offline";
  away.setAttribute("aria-label", `Set ${a.id} away`);
  out.setAttribute("aria-label", `Log ${a.id} out`);
}
