// The customer's message log: their messages, the agent's, files, and each phone call as
// ONE card in the customer's words (the call they dialled is not "your phone is ringing").
// Every item sits where its transcript id puts it; unacknowledged messages stay below.
import { CallBook, summarize, clock } from "../shared/calls.js";
import { el } from "./ui.js";

export function idAfter(a, b) { // stream ids "ms-seq": is a later than b?
  if (!b) return true;
  const [am, as] = a.split("-").map(Number);
  const [bm, bs] = b.split("-").map(Number);
  return am > bm || (am === bm && as > bs);
}

function placeById(list, li, id) {
  let before = null;
  for (let node = list.lastElementChild; node; node = node.previousElementSibling) {
    if (node === li || node.classList.contains("greeting")) continue;
    if (node.dataset.id && !idAfter(id, node.dataset.id)) { before = node; continue; }
    if (node.dataset.id) break;
    before = node;
  }
  list.insertBefore(li, before);
}

function agentName(e) { return e.agent_name || "An agent"; }

/** Routing steps the customer sees, in their words ("" = not shown). */
function describe(e) {
  switch (e.type) {
    case "assigned": return e.channel === "chat" ? `${agentName(e)} joined the chat` : "";
    case "transferred": return e.channel && e.channel !== "chat" ? "" : "You are being transferred to a colleague";
    case "closed": return "The chat was closed. Write again any time.";
    default: return e.text || "";
  }
}

/** A call card's title and status line for the customer. */
function callWords(s) {
  const name = s.agentName || "an agent";
  const inbound = s.direction === "inbound";
  const title = inbound ? "You called us" : `We are calling you${s.number ? ` at ${s.number}` : ""}`;
  let status;
  if (s.state === "ended") {
    const length = s.talk !== undefined && s.outcome === "answered" ? s.talk : s.duration;
    if (s.outcome === "answered") status = `Call with ${name} ended · ${clock(length)}`;
    else if (s.outcome === "overflow") status = "Your call was forwarded";
    else status = inbound ? `Call ended before an agent was free${s.duration !== undefined ? ` · ${clock(s.duration)}` : ""}` : "We could not reach you";
  } else if (s.state === "connected") status = `Connected with ${name}`;
  else if (s.state === "ringing") status = inbound ? "Finding an agent for you…" : "Your phone is ringing";
  else status = inbound ? "Waiting for an agent…" : "Placing the call…";
  return { title, status };
}

export class Log {
  constructor(list, sessionFiles) {
    this.list = list;
    this.files = sessionFiles; // (file, into) => fetch and show it
    this.rendered = new Map(); // entry id -> li
    this.pending = new Map();  // cid -> li
    this.calls = new CallBook();
    this.cards = new Map();
    this.lastId = null;
  }

  greet(text) {
    if (!text || this.list.querySelector(".greeting")) return;
    const li = el("li", { class: "entry agent greeting" });
    li.append(el("span", { class: "text" }, text));
    this.list.prepend(li);
  }

  has(id) { return this.rendered.has(id); }

  /** A stored entry (live or replayed). Returns true when it is a new agent message. */
  add(id, entry) {
    if (this.rendered.has(id)) return false;
    if (!this.lastId || idAfter(id, this.lastId)) this.lastId = id;
    if (entry.cid && this.pending.has(entry.cid)) { // our own message came back: stored
      const mine = this.pending.get(entry.cid);
      this.pending.delete(entry.cid);
      this.markStored(mine, id);
      return false;
    }
    const key = this.calls.add({ ...entry, id });
    if (key) {
      this.rendered.set(id, this.card(key));
      return false;
    }
    const li = this.item(id, entry);
    this.rendered.set(id, li);
    if (!li) return false;
    placeById(this.list, li, id);
    this.scroll();
    return entry.from === "agent"; // what counts as unread: the agent's messages
  }

  markStored(li, id) {
    li.dataset.id = id;
    this.rendered.set(id, li);
    li.querySelector(".meta").textContent = "✓";
    placeById(this.list, li, id);
  }

  card(key) {
    const s = summarize(this.calls.get(key));
    let li = this.cards.get(key);
    if (!li) {
      li = el("li", { class: "entry system call-card" });
      this.cards.set(key, li);
    }
    li.dataset.id = s.firstId;
    li.dataset.state = s.state;
    const w = callWords(s);
    li.replaceChildren(el("span", { class: "call-icon", "aria-hidden": "true" }, "📞"),
      el("strong", { class: "call-title" }, w.title), el("span", { class: "call-status" }, w.status));
    placeById(this.list, li, s.firstId);
    this.scroll();
    return li;
  }

  item(id, entry) {
    const mine = entry.from === "customer";
    const who = mine ? "me" : entry.from === "agent" ? "agent" : "system";
    const kind = entry.type || "message";
    if (kind !== "message" && kind !== "callback") {
      const text = describe(entry);
      if (!text) return null;
      const li = el("li", { class: `entry system ${kind}` });
      if (id) li.dataset.id = id;
      li.append(el("span", { class: "text" }, text));
      return li;
    }
    const li = el("li", { class: `entry ${who} ${kind}` });
    if (id) li.dataset.id = id;
    li.append(el("span", { class: "from" }, mine ? "You" : entry.agent_name || "Agent"));
    if (entry.text) li.append(el("span", { class: "text" }, entry.text));
    if (entry.file) this.files(entry.file, li).then(() => this.scroll());
    li.append(el("span", { class: "meta" }, mine ? "✓" : ""));
    return li;
  }

  showPending(p) {
    const li = this.item(null, { type: p.kind === "call_me" ? "callback" : "message", from: "customer",
      text: p.text, file: p.file ? { sha256: p.file.sha256, name: p.file.name, mime: p.file.mime } : null });
    li.querySelector(".meta").textContent = "sending…";
    this.pending.set(p.cid, li);
    this.list.append(li);
    this.scroll();
  }

  acked(cid, id) {
    const li = this.pending.get(cid);
    if (!li) return;
    this.pending.delete(cid);
    if (this.rendered.has(id)) { li.remove(); return; }
    if (!this.lastId || idAfter(id, this.lastId)) this.lastId = id;
    this.markStored(li, id);
  }

  notSent(cid) {
    const li = this.pending.get(cid);
    if (li) { li.querySelector(".meta").textContent = "not sent"; this.pending.delete(cid); }
  }

  /** Read receipts: the agent has seen everything up to `seen`. */
  seenUpTo(seen) {
    for (const [id, li] of this.rendered) {
      if (li && li.classList.contains("me") && !idAfter(id, seen)) li.querySelector(".meta").textContent = "✓✓";
    }
  }

  scroll() { this.list.scrollTop = this.list.scrollHeight; }
}
