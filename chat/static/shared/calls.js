// One call = one card. A phone call leaves many transcript entries (docs/call-flow.md,
// "Transcript entries"): the router's routing steps (request, assigned, abandoned,
// transferred) and the PBX bridge's leg events (call.answered, call.ringing, call.bridged,
// call.transferred, call.hangup, one per leg). This module groups them by call and reduces
// them to the facts a card shows; the desktop and the widget word those facts for their
// readers. Pure: no DOM, no I/O.

/** The call an entry belongs to, or "" (staff entries: the router's click-to-call id
 * `call`, else the PBX's `call_id`; customers' entries carry an opaque `call_ref`). */
export function callKey(e) {
  const type = e.type || "";
  if (type.startsWith("call.")) return String(e.call_ref || e.call || e.call_id || "");
  return "";
}

/** The router's entries about a request that are steps of its call (the customer's own
 * "call me" message is not: it stays a message). */
const ROUTING_STEPS = new Set(["assigned", "abandoned", "transferred", "overflowed"]);

/** Groups a session's entries into calls, in any order they are added. */
export class CallBook {
  constructor() {
    this.calls = new Map();     // key -> {key, entries: [...]}
    this.byRequest = new Map(); // routing request id -> call key
    this.callbacks = [];        // callback requests not matched to a call yet: {request, number}
  }

  /** Add an entry; returns the call it belongs to (its key), or "" when it is not part of
   * a call (messages, chat routing steps...). */
  add(e) {
    let key = callKey(e);
    if (!key && e.type === "request" && e.channel && e.channel !== "chat") {
      if (e.call_id) key = String(e.call_id);
      else if (e.callback) {
        key = `callback:${e.request}`;
        this.callbacks.push({ request: e.request, number: String(e.callback), key });
      }
      if (key && e.request) this.byRequest.set(e.request, key);
    } else if (!key && ROUTING_STEPS.has(e.type) && this.byRequest.has(e.request)) {
      key = this.byRequest.get(e.request); // assigned, abandoned, transferred, overflowed
      if (e.to_request) this.byRequest.set(e.to_request, key);
    }
    if (key && !this.calls.has(key) && e.direction === "outbound" && !e.call) {
      // the PBX's call for a callback request: same number, no click-to-call id
      const i = this.callbacks.findIndex((c) => c.number === String(e.number || ""));
      if (i >= 0) {
        const cb = this.callbacks.splice(i, 1)[0];
        this.byRequest.set(cb.request, cb.key);
        this.alias(key, cb.key);
        key = cb.key;
      }
    }
    key = this.aliases?.get(key) || key;
    if (!key) return "";
    if (!this.calls.has(key)) this.calls.set(key, { key, entries: [] });
    const call = this.calls.get(key);
    if (!call.entries.some((x) => x.id && x.id === e.id)) call.entries.push(e);
    return key;
  }

  alias(from, to) {
    this.aliases = this.aliases || new Map();
    this.aliases.set(from, to);
  }

  get(key) { return this.calls.get(key); }
}

function num(x) { const n = Number(x); return Number.isFinite(n) ? n : undefined; }

function byOrder(a, b) {
  const [am, as] = String(a.id || "0-0").split("-").map(Number);
  const [bm, bs] = String(b.id || "0-0").split("-").map(Number);
  return am - bm || as - bs;
}

/** The facts of one call, from its entries in transcript order. */
export function summarize(call) {
  const entries = [...call.entries].sort(byOrder);
  const s = {
    key: call.key,
    direction: "inbound",
    callback: false,
    state: "waiting", // waiting | ringing | connected | ended
    number: "", entry: "", agent: "", agentName: "",
    requests: [], rang: [], startedAt: 0, connectedAt: 0, endedAt: 0,
    duration: undefined, talk: undefined, endedBy: "", waited: undefined,
    outcome: "", // answered | missed | abandoned | overflow | failed | transferred
    firstId: entries.length ? entries[0].id : "",
    steps: [],
  };
  for (const e of entries) {
    const at = num(e.at) || 0;
    if (!s.startedAt) s.startedAt = at;
    if (e.direction === "outbound" || e.type === "call.requested") s.direction = "outbound";
    if (e.number && !s.number) s.number = String(e.number);
    if (e.agent_name && e.party !== "customer") s.agentName = e.agent_name;
    switch (e.type) {
      case "request":
        s.requests.push(e.request);
        if (e.callback) { s.callback = true; s.direction = "outbound"; s.number = String(e.callback); }
        s.steps.push({ at, kind: "request", request: e.request });
        break;
      case "assigned":
        s.agent = e.agent || s.agent;
        s.waited = num(e.wait_ms) !== undefined ? num(e.wait_ms) / 1000 : s.waited;
        s.steps.push({ at, kind: "assigned", agent: e.agent, name: e.agent_name });
        break;
      case "abandoned":
        if (s.state !== "connected") { s.outcome = "abandoned"; }
        s.steps.push({ at, kind: "abandoned", reason: e.reason });
        break;
      case "overflowed":
        s.outcome = "overflow";
        s.steps.push({ at, kind: "overflow", destination: e.destination });
        break;
      case "transferred":
        s.steps.push({ at, kind: "transferred", queue: e.queue, agent: e.agent, by: e.by });
        break;
      case "call.requested":
        s.agent = e.agent || s.agent;
        s.state = "ringing";
        s.steps.push({ at, kind: "requested", agent: e.agent });
        break;
      case "call.answered":
        if (e.party === "customer" && s.direction === "inbound") {
          s.entry = e.entry || s.entry;
          s.steps.push({ at, kind: "came_in", entry: e.entry });
        } else if (e.party === "customer") {
          s.steps.push({ at, kind: "customer_answered" });
        } else {
          s.agent = e.agent || s.agent;
          s.steps.push({ at, kind: "agent_answered", agent: e.agent, name: e.agent_name });
        }
        break;
      case "call.ringing":
        if (s.state !== "connected") s.state = "ringing";
        if (e.party === "customer") s.steps.push({ at, kind: "customer_ringing" });
        else {
          s.rang.push(e.agent);
          s.steps.push({ at, kind: "agent_ringing", agent: e.agent, name: e.agent_name });
        }
        break;
      case "call.bridged":
        s.state = "connected";
        s.connectedAt = at;
        s.agent = e.agent || s.agent;
        if (num(e.wait_s) !== undefined) s.waited = num(e.wait_s);
        s.steps.push({ at, kind: "connected", agent: e.agent, name: e.agent_name });
        break;
      case "call.transferred":
        s.steps.push({ at, kind: e.to === "overflow" ? "overflow" : "back_on_hold",
          destination: e.destination, agent: e.agent });
        if (e.to === "overflow") s.outcome = "overflow";
        else { s.state = "waiting"; s.connectedAt = 0; }
        break;
      case "call.hangup":
        if (e.party === "agent" && (e.answered === false || e.answered === "false")) {
          s.steps.push({ at, kind: "no_answer", agent: e.agent, name: e.agent_name,
            reason: e.reason, seconds: num(e.duration_s) });
          if (s.direction === "outbound" && !s.connectedAt && e.cause === "NO_ROUTE_DESTINATION") {
            s.state = "ended"; s.outcome = "failed"; s.endedAt = at;
          } else if (s.state === "ringing") s.state = "waiting";
          break;
        }
        if (e.party === "agent" && s.direction === "inbound") {
          s.steps.push({ at, kind: "agent_left", agent: e.agent, name: e.agent_name, endedBy: e.ended_by });
          break;
        }
        // the customer's leg (inbound), or any leg of an outbound call: the call is over
        s.state = "ended";
        s.endedAt = at;
        s.endedBy = e.ended_by || s.endedBy;
        if (e.party === "customer" || s.duration === undefined) {
          s.duration = num(e.duration_s) ?? s.duration;
          if (num(e.talk_s) !== undefined) s.talk = num(e.talk_s);
        }
        break;
      default:
        break;
    }
  }
  if (s.state === "ended" && !s.outcome) s.outcome = s.connectedAt ? "answered" : "missed";
  if (s.talk === undefined && s.connectedAt && s.endedAt) s.talk = (s.endedAt - s.connectedAt) / 1000;
  return s;
}

/** 75 -> "1:15", 9 -> "0:09" (a call's length, as phones show it). */
export function clock(seconds) {
  if (!Number.isFinite(seconds)) return "";
  const t = Math.max(0, Math.round(seconds));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}
