// Call control in the agent desktop: buttons for the live call of a session (hold, resume,
// mute, unmute, transfer, consult, complete, cancel, hang up), a transfer picker fed by the
// queues and the other agents, the call-control entries of the timeline, and recordings as
// players. Requests go to POST /api/sessions/<id>/call; what the PBX did comes back as
// transcript entries (call.control, call.consult, call.transferred), which drive the buttons.
// agent.js calls the exported hooks; user data reaches the page through textContent only.
import { el, csrf } from "./common.js";

const agentId = document.getElementById("desktop")?.dataset.agent || "";
const calls = new Map(); // session id -> {live, held, muted, consult, box, buttons, note}
let targets = null; // {queues, agents} once fetched

const WORDS = {
  hold: "put the customer on hold", resume: "took the customer off hold", mute: "muted",
  unmute: "unmuted", transfer: "transferred the call", consult: "consulted",
  complete: "completed the transfer", cancel: "cancelled the consult", hangup: "hung up",
};

/** Text for the call-control entries of a timeline (null: not ours, agent.js decides). */
export function describeCall(e) {
  switch (e.type) {
    case "call.control": {
      const who = e.by || "?";
      const target = e.target ? ` ${e.target}` : "";
      if (e.state === "requested") return `☎ ${who} asks: ${e.action}${target}`;
      if (e.state === "failed") return `☎ ${e.action} failed: ${e.reason || "refused"}`;
      return `☎ ${who} ${WORDS[e.action] || e.action}${target}`;
    }
    case "call.consult":
      return `☎ consult ${e.target || ""}: ${e.state}${e.cause && e.state !== "answered" ? ` (${e.cause})` : ""}`;
    case "call.recording":
      return e.state === "ended" ? `⏺ recording ended (${Math.round(Number(e.duration_s) || 0)}s)`
        : e.state === "failed" ? "⏺ recording failed" : "⏺ call recorded";
    case "call.supervise":
      return `🎧 supervisor ${e.supervisor}: ${e.state}${e.mode ? ` (${e.mode})` : ""}`;
    case "call.transferred":
      if (e.to === "agent") return `☎ call transferred to ${e.agent}${e.by ? ` by ${e.by}` : ""}`;
      if (e.to === "number") return `☎ call transferred to ${e.number}${e.by ? ` by ${e.by}` : ""}`;
      return null;
    default:
      return null;
  }
}

/** A recording entry gets a player (the browser fetches it with the login's cookie). */
export function decorateEntry(sessionId, e, li) {
  if (e.type !== "call.recording" || e.state !== "started" || !e.id) return;
  const audio = el("audio", { controls: "", preload: "none", class: "recording" });
  audio.src = `/api/sessions/${encodeURIComponent(sessionId)}/recordings/${encodeURIComponent(e.id)}`;
  li.append(audio);
}

/** Follow the call's state from the timeline (replayed or live). */
export function onCallEntry(sessionId, e) {
  const c = calls.get(sessionId);
  if (!c) return;
  if (e.type === "call.answered" && e.party === "agent" && e.agent === agentId) c.live = true;
  else if (e.type === "call.transferred") {
    c.live = e.to === "agent" && e.agent === agentId;
    c.held = c.muted = c.consult = false;
  } else if (e.type === "call.hangup" && e.party === "customer") c.live = false;
  else if (e.type === "call.control" && e.state === "done") {
    if (e.action === "hold") c.held = true;
    if (e.action === "resume" || e.action === "cancel") c.held = false;
    if (e.action === "mute") c.muted = true;
    if (e.action === "unmute") c.muted = false;
    if (e.action === "consult") { c.consult = true; c.held = true; }
    if (e.action === "complete" || e.action === "cancel") c.consult = false;
  } else if (e.type === "call.consult" && ["failed", "ended", "cancelled"].includes(e.state)) {
    c.consult = false;
  }
  if (e.type === "call.control" && e.state === "failed" && e.by === agentId) {
    c.note.textContent = describeCall(e);
  }
  render(c);
}

function render(c) {
  const b = c.buttons;
  c.box.hidden = !c.live;
  b.hold.disabled = c.held;
  b.resume.disabled = !c.held || c.consult;
  b.mute.disabled = c.muted;
  b.unmute.disabled = !c.muted;
  b.complete.disabled = b.cancel.disabled = !c.consult;
  b.transfer.disabled = b.consult.disabled = c.consult;
  c.box.dataset.state = [c.held && "held", c.muted && "muted", c.consult && "consulting"]
    .filter(Boolean).join(" ") || "talking";
}

async function ask(sessionId, body, note) {
  note.textContent = "";
  try {
    const r = await fetch(`/api/sessions/${encodeURIComponent(sessionId)}/call`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body),
    });
    if (!r.ok) note.textContent = (await r.json()).message || `refused (${r.status})`;
  } catch {
    note.textContent = "the service cannot be reached: try again";
  }
}

async function loadTargets(select) {
  if (!targets) {
    const r = await fetch("/api/call-transfer-targets");
    targets = r.ok ? await r.json() : { queues: [], agents: [] };
  }
  select.replaceChildren(el("option", { value: "" }, "choose…"));
  const queues = el("optgroup", { label: "Queues" });
  for (const q of targets.queues) queues.append(el("option", { value: `queue:${q}` }, q));
  const agents = el("optgroup", { label: "Agents" });
  for (const a of targets.agents) {
    agents.append(el("option", { value: `agent:${a.id}` }, `${a.name || a.id} (${a.status})`));
  }
  select.append(queues, agents);
}

function target(select, number) {
  const n = number.value.replace(/[ ()-]/g, "");
  if (n) return { target_kind: "number", target: n };
  const [kind, id] = (select.value || "").split(":");
  return kind ? { target_kind: kind, target: id } : null;
}

/** Add the call controls to a session panel (once, when agent.js creates it). */
export function attachCallControls(panel, sessionId) {
  const box = el("section", { class: "call-controls", "aria-label": "Call", hidden: "" });
  const note = el("p", { class: "error call-note", role: "alert" });
  const buttons = {};
  const row = el("div", { class: "call-buttons" });
  for (const action of ["hold", "resume", "mute", "unmute", "hangup"]) {
    const label = action === "hangup" ? "Hang up" : action[0].toUpperCase() + action.slice(1);
    buttons[action] = el("button", { type: "button", class: `call-${action}` }, label);
    buttons[action].addEventListener("click", () => ask(sessionId, { action }, note));
    row.append(buttons[action]);
  }
  const picker = el("div", { class: "call-transfer" });
  const select = el("select", { class: "call-target", "aria-label": "Transfer or consult to" });
  const number = el("input", { class: "call-number-target", type: "tel", maxlength: "24",
    placeholder: "or a number", "aria-label": "Number" });
  select.addEventListener("focus", () => { if (!targets) loadTargets(select); });
  for (const [action, label] of [["transfer", "Transfer"], ["consult", "Consult"],
    ["complete", "Complete transfer"], ["cancel", "Cancel consult"]]) {
    buttons[action] = el("button", { type: "button", class: `call-${action}` }, label);
    buttons[action].addEventListener("click", () => {
      if (action === "transfer" || action === "consult") {
        const t = target(select, number);
        if (!t) { note.textContent = "choose a queue or an agent, or type a number"; return; }
        ask(sessionId, { action, ...t }, note);
      } else ask(sessionId, { action }, note);
    });
  }
  picker.append(select, number, buttons.transfer, buttons.consult, buttons.complete, buttons.cancel);
  box.append(el("h3", {}, "Call"), row, picker, note);
  const head = panel.querySelector(".session-head");
  if (head) head.after(box); else panel.prepend(box);
  loadTargets(select);
  const c = { live: false, held: false, muted: false, consult: false, box, buttons, note };
  calls.set(sessionId, c);
  render(c);
}
