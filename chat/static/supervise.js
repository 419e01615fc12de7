// The supervisor page's live calls: listen, whisper (to the agent) or barge in on a call,
// and stop; the PBX rings the supervisor's own phone (supervisors: in the admin YAML).
// Each call's timeline can be opened here, recordings playable. Its own section, added
// below whatever else the page shows; user data through textContent only.
import { el, csrf } from "./common.js";
import { describeCall, decorateEntry } from "./callcontrol.js";

const main = document.getElementById("main") || document.body;
const section = el("section", { id: "live-calls", "aria-labelledby": "live-calls-h" });
const note = el("p", { class: "error", role: "alert" });
const table = el("table", { class: "grid", id: "live-calls-table" });
const body = el("tbody");
const timeline = el("ol", { class: "timeline", id: "live-call-timeline", "aria-label": "Call timeline" });
const head = el("thead");
const tr = el("tr");
for (const h of ["Agent", "Customer", "Service", "Since", ""]) tr.append(el("th", { scope: "col" }, h));
head.append(tr);
table.append(head, body);
section.append(el("h2", { id: "live-calls-h" }, "Live calls"), note, table, timeline);
main.append(section);

async function supervise(sessionId, mode) {
  note.textContent = "";
  note.className = "error";
  const r = await fetch(`/api/sessions/${encodeURIComponent(sessionId)}/supervise`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
    body: JSON.stringify({ mode }),
  });
  note.className = r.ok ? "muted" : "error";
  if (!r.ok) note.textContent = (await r.json()).message || `refused (${r.status})`;
  else if (mode !== "stop") note.textContent = `${mode}: your phone rings (answer it to ${mode})`;
}

async function showTimeline(sessionId) {
  const r = await fetch(`/api/sessions/${encodeURIComponent(sessionId)}`);
  const view = await r.json();
  timeline.replaceChildren();
  if (!r.ok) { timeline.append(el("li", { class: "error" }, view.message || "cannot load")); return; }
  for (const e of view.entries) {
    const li = el("li", { class: "entry", "data-id": e.id || "" },
      describeCall(e) || e.text || e.type);
    decorateEntry(sessionId, e, li);
    timeline.append(li);
  }
}

async function refresh() {
  let calls;
  try {
    const r = await fetch("/api/live-calls");
    if (!r.ok) return;
    calls = await r.json();
  } catch { return; }
  body.replaceChildren(...calls.map((c) => {
    const row = el("tr", { "data-session": c.session_id });
    row.append(
      el("td", {}, c.agent_name ? `${c.agent} (${c.agent_name})` : c.agent),
      el("td", {}, c.user),
      el("td", {}, c.service),
      el("td", {}, new Date(Number(c.since)).toLocaleTimeString()),
    );
    const actions = el("td");
    for (const mode of ["listen", "whisper", "barge", "stop"]) {
      const b = el("button", { type: "button", class: `supervise-${mode}` },
        mode[0].toUpperCase() + mode.slice(1));
      b.addEventListener("click", () => supervise(c.session_id, mode));
      actions.append(b);
    }
    const t = el("button", { type: "button", class: "supervise-timeline" }, "Timeline");
    t.addEventListener("click", () => showTimeline(c.session_id));
    actions.append(t);
    row.append(actions);
    return row;
  }));
}

refresh();
setInterval(refresh, 3000);
