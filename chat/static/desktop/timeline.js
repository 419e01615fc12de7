// One session's timeline on the desktop: messages, files, notes, routing steps, and each
// phone call as ONE card (shared/calls.js groups its entries) in transcript order.
import { el, fmtDuration, fetchFileInto, placeById } from "../common.js";
import { CallBook, summarize, clock } from "../shared/calls.js";
import { describeCall, decorateEntry, onCallEntry } from "../callcontrol.js";

export function timeOf(at) {
  return at ? new Date(Number(at)).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "";
}

function who(e) {
  return e.agent_name || e.agent || "agent";
}

/** Routing steps of chats, in an agent's words. */
function describe(e) {
  switch (e.type) {
    case "request":
      return `${e.channel === "chat" ? "Chat" : "Contact"} request filed${e.callback ? ` (call back ${e.callback})` : ""}`;
    case "assigned":
      return `${who(e)} took the ${e.channel}${e.wait_ms ? ` after ${fmtDuration(e.wait_ms / 1000)} waiting` : ""}`;
    case "transferred":
      return `Transferred to ${e.queue ? `queue ${e.queue}` : `agent ${e.agent}`}${e.by ? ` by ${e.by}` : ""}`;
    case "moved": // a supervisor moved the waiting contact (router/lua/move_request.lua)
      return `Moved to ${e.queue ? `queue ${e.queue}` : `agent ${e.agent}`} by supervisor ${e.by}`;
    case "closed": return `Session closed: ${e.disposition || "-"}${e.by ? ` by ${e.by}` : ""}`;
    case "abandoned": return `${e.channel || ""} request ended (${e.reason || "abandoned"})`;
    case "overflowed": return `${e.channel || ""} request overflowed to ${e.destination || "?"}`;
    case "callback": return `Customer asks for a call back to ${e.number}`;
    default: return e.text || e.type;
  }
}

/** Call-control entries shown as lines of their call's card (callcontrol.js words them). */
const CONTROL_TYPES = new Set(["call.control", "call.consult", "call.recording", "call.supervise"]);

const STATE_WORDS = { waiting: "waiting", ringing: "ringing", connected: "connected", ended: "ended" };

/** The card's lines: what happened to the call, in order, in an agent's words. */
function callLines(s) {
  const lines = [];
  for (const step of s.steps) {
    const name = step.name || step.agent || "";
    let text = "";
    switch (step.kind) {
      case "came_in": text = `Call came in${step.entry ? ` on ${step.entry}` : ""}`; break;
      case "requested": text = `${name || "Agent"} asked to call ${s.number}`; break;
      case "agent_ringing": text = `Ringing ${name}`; break;
      case "customer_ringing": text = `Ringing the customer at ${s.number}`; break;
      case "agent_answered": text = `${name} answered`; break;
      case "customer_answered": text = "Customer answered"; break;
      case "connected": text = `Connected with ${name}`; break;
      case "no_answer": text = `${name || "Agent"}: ${step.reason || "no answer"}${step.seconds ? ` after ${step.seconds.toFixed(0)}s` : ""}`; break;
      case "back_on_hold": text = `Back on hold (transferred from ${step.agent || "the agent"})`; break;
      case "overflow": text = `Sent to the overflow${step.destination ? `: ${step.destination}` : ""}`; break;
      case "abandoned": text = `Caller gave up (${step.reason || "abandoned"})`; break;
      case "transferred": text = `Transferred to ${step.queue ? `queue ${step.queue}` : `agent ${step.agent}`}`; break;
      case "agent_left": text = `${name || "Agent"} hung up`; break;
      default: break;
    }
    if (text) lines.push({ at: step.at, text });
  }
  for (const e of s.control || []) { // call control, consults, recordings, supervisors
    const text = describeCall(e);
    if (text) lines.push({ at: Number(e.at) || 0, text });
  }
  lines.sort((a, b) => (a.at || 0) - (b.at || 0));
  if (s.state === "ended") {
    const bits = [s.outcome === "answered" ? "Call ended" : s.outcome === "overflow" ? "Call forwarded" : "Call not answered"];
    if (s.endedBy) bits.push(`by ${s.endedBy}`);
    if (s.talk !== undefined && s.outcome === "answered") bits.push(`talk ${clock(s.talk)}`);
    if (s.duration !== undefined) bits.push(`total ${clock(s.duration)}`);
    lines.push({ at: s.endedAt, text: bits.join(" · ") });
  }
  return lines;
}

function callTitle(s) {
  if (s.callback) return `Call back to ${s.number || "the customer"}`;
  if (s.direction === "outbound") return `Outgoing call to ${s.number || "the customer"}`;
  return `Incoming call${s.number ? ` from ${s.number}` : ""}`;
}

export class Timeline {
  constructor(list, sessionId, { onCustomerEntry, onCallChange }) {
    this.list = list;
    this.sessionId = sessionId;
    this.rendered = new Set();
    this.pending = new Map(); // cid -> li
    this.calls = new CallBook();
    this.cards = new Map();   // call key -> li
    this.onCustomerEntry = onCustomerEntry;
    this.onCallChange = onCallChange;
  }

  has(id) { return this.rendered.has(id); }

  /** Add a stored entry (live or replayed); returns false when it was there already. */
  add(e) {
    if (this.rendered.has(e.id)) return false;
    this.rendered.add(e.id);
    if (e.cid && this.pending.has(e.cid)) { // our own message, stored (its ack may be lost)
      this.pending.get(e.cid).remove();
      this.pending.delete(e.cid);
    }
    const key = this.calls.add(e);
    onCallEntry(this.sessionId, e); // the call buttons follow the call (callcontrol.js)
    if (key) {
      this.renderCall(key);
    } else {
      placeById(this.list, this.item(e), e.id);
    }
    if (e.from === "customer") this.onCustomerEntry(e);
    this.scroll();
    return true;
  }

  renderCall(key) {
    const call = this.calls.get(key);
    const s = summarize(call);
    s.control = call.entries.filter((e) => CONTROL_TYPES.has(e.type) || (e.type === "call.transferred" && (e.to === "agent" || e.to === "number")));
    let li = this.cards.get(key);
    if (!li) {
      li = el("li", { class: "entry call-card", "data-id": s.firstId, "data-call": key });
      this.cards.set(key, li);
    }
    li.dataset.state = s.state;
    li.dataset.outcome = s.outcome;
    const head = el("div", { class: "call-head" });
    head.append(
      el("span", { class: "call-icon", "aria-hidden": "true" }, "📞"),
      el("strong", { class: "call-title" }, callTitle(s)),
      el("span", { class: `pill pill-${s.state}` }, s.state === "ended" && s.outcome !== "answered" ? "missed" : STATE_WORDS[s.state]),
    );
    if (s.state === "connected" && s.connectedAt) head.append(el("span", { class: "muted" }, `since ${timeOf(s.connectedAt)}`));
    const steps = el("ol", { class: "call-steps" });
    for (const line of callLines(s)) {
      const step = el("li");
      step.append(el("time", { class: "meta" }, timeOf(line.at)), el("span", {}, line.text));
      steps.append(step);
    }
    const ids = el("p", { class: "request-ids muted" });
    for (const r of s.requests) {
      ids.append(el("span", {}, "request "), el("code", { class: "request-id", title: "implus router explain <id> tells why this agent" }, r), " ");
    }
    li.replaceChildren(head, steps);
    if (s.requests.length) li.append(ids);
    for (const e of s.control) decorateEntry(this.sessionId, e, li); // recordings: a player
    placeById(this.list, li, s.firstId);
    this.onCallChange(s);
  }

  /** A message, note, file or routing step as one item. */
  item(e) {
    const kind = e.type || "message";
    const from = e.from === "customer" ? "customer" : e.from === "agent" ? "agent" : "system";
    const li = el("li", { class: `entry ${kind} ${from}`, "data-id": e.id || "" });
    if (kind === "message" || kind === "note") {
      const label = from === "customer" ? "Customer" : `${who(e)}${kind === "note" ? " · internal note" : ""}`;
      li.append(el("span", { class: "from" }, label));
      if (e.text) li.append(el("span", { class: "text" }, e.text));
      if (e.file) {
        fetchFileInto(`/files/${encodeURIComponent(this.sessionId)}/${e.file.sha256}`, e.file, li, {})
          .then(() => this.scroll(li));
      }
    } else {
      li.append(el("span", { class: "text" }, describeCall(e) || describe(e)));
      decorateEntry(this.sessionId, e, li);
      if (kind === "request" && e.request) {
        li.append(" ", el("code", { class: "request-id", title: "implus router explain <id> tells why this agent" }, e.request));
      }
    }
    li.append(el("span", { class: "meta" }, e.at ? timeOf(e.at) : "sending…"));
    return li;
  }

  /** A reply or note not acknowledged yet: below every stored entry. */
  showPending(frame, agentName, file = null) {
    const li = this.item({ type: frame.type === "note" ? "note" : "message", from: "agent",
      agent_name: agentName, text: frame.text, file });
    if (frame.file && !file) li.append(el("span", { class: "muted" }, "📎 file"));
    this.pending.set(frame.cid, li);
    this.list.append(li);
    this.scroll();
  }

  /** Our own message came back stored (its ack, or its entry). */
  stored(cid, id) {
    const li = this.pending.get(cid);
    if (!li) return;
    this.pending.delete(cid);
    if (this.rendered.has(id)) { li.remove(); return; }
    this.rendered.add(id);
    li.dataset.id = id;
    li.querySelector(".meta").textContent = "✓";
    placeById(this.list, li, id);
  }

  /** Keep the newest item in view - also once an image has loaded and grown. */
  scroll(item) {
    const list = this.list;
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 160;
    if (!item || nearBottom || item === list.lastElementChild) list.scrollTop = list.scrollHeight;
  }
}
