// Agent desktop: status, offers with countdown, several sessions at once, one timeline each.
// User data only ever reaches the page through textContent (see el()).
import { el, fmtDuration, csrf, connect, newCid, fetchFileInto, idAfter, placeById } from "./common.js";
import { Outbox } from "./outbox.js";
import { attachCallControls, decorateEntry, describeCall, onCallEntry } from "./callcontrol.js";

const desktop = document.getElementById("desktop");
const agentId = desktop.dataset.agent;
const offersEl = document.getElementById("offers");
const tabsEl = document.getElementById("session-tabs");
const sessionsEl = document.getElementById("sessions");
const statusNow = document.getElementById("status-now");
const linkState = document.getElementById("link-state");
const template = document.getElementById("session-template");

const sessions = new Map(); // session id -> {panel, timeline, rendered:Set, pending:Map cid->li}
const offers = new Map();   // offer id -> {li, deadline}
let link = null;

function send(frame) { return Boolean(link && link.send(frame)); }
// Replies and notes until acknowledged (resent after reconnects and passing outages).
const outbox = new Outbox(`implus:desktop:${agentId}:outbox`, send);

// ---- status -----------------------------------------------------------------------------
document.getElementById("status-apply").addEventListener("click", () => {
  send({
    type: "status",
    status: document.getElementById("status-select").value,
    reason: document.getElementById("status-reason").value.trim(),
  });
});

function showStatus(status, reason) {
  statusNow.textContent = reason ? `${status} (${reason})` : status;
}

// ---- offers -----------------------------------------------------------------------------
// Offer deadlines are server times (ms); `now` in the offer frame is the server's clock
// when it was sent, so the countdown is right even when this PC's clock is not.
let clockSkew = 0;

function addOffer(f) {
  if (offers.has(f.offer_id)) return;
  if (f.now) clockSkew = f.now - Date.now();
  const li = el("li", { class: "offer", "data-offer": f.offer_id, "data-channel": f.channel || "chat" });
  const what = [f.channel || "chat", f.service || "", f.user_id || ""];
  if (f.callback) what.push(`call back ${f.callback}`);
  li.append(
    el("span", { class: "what" }, what.filter(Boolean).join(" · ")),
    el("span", { class: "countdown", "aria-label": "seconds left" }, ""),
  );
  const accept = el("button", { type: "button", class: "accept" }, "Accept");
  const reject = el("button", { type: "button", class: "reject" }, "Reject");
  accept.addEventListener("click", () => send({ type: "accept", offer_id: f.offer_id }));
  reject.addEventListener("click", () => send({ type: "reject", offer_id: f.offer_id }));
  li.append(accept, reject);
  offersEl.append(li);
  offers.set(f.offer_id, { li, deadline: f.deadline });
  tick();
}

function removeOffer(id) {
  const o = offers.get(id);
  if (o) { o.li.remove(); offers.delete(id); }
}

function tick() {
  const now = Date.now() + clockSkew;
  for (const [id, o] of offers) {
    const left = Math.max(0, Math.ceil((o.deadline - now) / 1000));
    o.li.querySelector(".countdown").textContent = o.deadline ? `${left}s` : "";
    if (o.deadline && o.deadline < now - 5000) removeOffer(id);
  }
}
setInterval(tick, 500);

// ---- timeline -------------------------------------------------------------------------------
const CALL_WORDS = {
  "call.requested": "calling", "call.ringing": "ringing", "call.answered": "answered",
  "call.bridged": "connected", "call.transferred": "transferred", "call.hangup": "hung up",
};

function describe(e) {
  const call = describeCall(e);
  if (call) return call;
  switch (e.type) {
    case "request": return `new ${e.channel || ""} request${e.callback ? ` (call back ${e.callback})` : ""}`;
    case "assigned": return `${e.agent} took the ${e.channel}${e.wait_ms ? ` after ${fmtDuration(e.wait_ms / 1000)}` : ""}`;
    case "transferred": return `transferred to ${e.queue ? `queue ${e.queue}` : `agent ${e.agent}`}${e.by ? ` by ${e.by}` : ""}`;
    case "closed": return `session closed: ${e.disposition || "-"}${e.by ? ` by ${e.by}` : ""}`;
    case "abandoned": return `${e.channel || ""} request abandoned (${e.reason || ""})`;
    case "overflowed": return `${e.channel || ""} request overflowed to ${e.destination || "?"}`;
    case "callback": return `customer asks for a call back to ${e.number}`;
    default: break;
  }
  if (CALL_WORDS[e.type]) {
    const bits = [`📞 call ${CALL_WORDS[e.type]}`];
    if (e.number) bits.push(e.number);
    if (e.agent) bits.push(`agent ${e.agent}`);
    if (e.duration_s !== undefined) bits.push(fmtDuration(Number(e.duration_s)));
    if (e.cause) bits.push(e.cause);
    return bits.join(" · ");
  }
  return e.text || e.type;
}

function entryItem(sessionId, e) {
  const kind = e.type || "message";
  const who = e.from === "customer" ? "customer" : e.from === "agent" ? "agent" : "system";
  const cls = kind.startsWith("call.") ? `call ${kind.replace(".", "-")}` : kind;
  const li = el("li", { class: `entry ${cls} ${who}`, "data-id": e.id || "" });
  if (kind === "message" || kind === "note") {
    const label = who === "customer" ? "Customer" : `${e.agent || "Agent"}${kind === "note" ? " (note)" : ""}`;
    li.append(el("span", { class: "from" }, label));
    if (e.text) li.append(el("span", { class: "text" }, e.text));
    if (e.file) fetchFileInto(`/files/${encodeURIComponent(sessionId)}/${e.file.sha256}`, e.file, li, {});
  } else {
    li.append(el("span", { class: "text" }, describe(e)));
  }
  li.append(el("span", { class: "meta" }, e.at ? new Date(Number(e.at)).toLocaleTimeString() : "sending…"));
  decorateEntry(sessionId, e, li);
  return li;
}

function renderEntry(sessionId, e) {
  const s = sessions.get(sessionId);
  if (!s || s.rendered.has(e.id)) return;
  s.rendered.add(e.id);
  if (e.cid) {
    outbox.done(e.cid); // our own message, stored (its ack may have been lost)
    if (s.pending.has(e.cid)) {
      s.pending.get(e.cid).remove();
      s.pending.delete(e.cid);
    }
  }
  placeById(s.timeline, entryItem(sessionId, e), e.id);
  onCallEntry(sessionId, e);
  s.timeline.scrollTop = s.timeline.scrollHeight;
  if (e.from === "customer") send({ type: "seen", session_id: sessionId, id: e.id });
}

function openPanel(view) {
  let s = sessions.get(view.session_id);
  if (!s) {
    const panel = template.content.firstElementChild.cloneNode(true);
    panel.id = `session-${view.session_id}`;
    panel.dataset.session = view.session_id;
    s = {
      panel,
      timeline: panel.querySelector(".timeline"),
      rendered: new Set(),
      pending: new Map(),
    };
    sessions.set(view.session_id, s);
    wirePanel(view.session_id, s);
    attachCallControls(panel, view.session_id);
    sessionsEl.append(panel);
    const tab = el("button", { type: "button", role: "tab", "data-session": view.session_id },
      `${view.user_id} · ${view.service}`);
    tab.addEventListener("click", () => selectTab(view.session_id));
    const li = el("li");
    li.append(tab);
    tabsEl.append(li);
    s.tab = li;
  }
  s.panel.querySelector(".session-title").textContent = `${view.user_id} · ${view.service}`;
  s.panel.querySelector(".session-state").textContent = view.state;
  for (const e of view.entries || []) renderEntry(view.session_id, e);
  // what this tab sent before a reload and nobody acknowledged yet
  for (const f of outbox.forSession(view.session_id)) {
    if (!s.pending.has(f.cid)) showPending(view.session_id, s, f);
  }
  const hist = s.panel.querySelector(".history-list");
  hist.replaceChildren();
  for (const h of view.history || []) {
    const b = el("button", { type: "button" },
      `${new Date(h.created).toLocaleString()} · ${h.service} · ${h.disposition || h.state}`);
    b.addEventListener("click", () => showHistory(s, h.session_id));
    const li = el("li");
    li.append(b);
    hist.append(li);
  }
  selectTab(view.session_id);
}

async function showHistory(s, sessionId) {
  const box = s.panel.querySelector(".history-view");
  box.replaceChildren(el("li", {}, "loading…"));
  const r = await fetch(`/api/sessions/${encodeURIComponent(sessionId)}`);
  const view = await r.json();
  box.replaceChildren();
  if (!r.ok) { box.append(el("li", { class: "error" }, view.message || "cannot load")); return; }
  for (const e of view.entries) box.append(entryItem(sessionId, e));
}

function selectTab(sessionId) {
  for (const [id, s] of sessions) {
    s.panel.hidden = id !== sessionId;
    s.tab.querySelector("button").setAttribute("aria-selected", String(id === sessionId));
  }
}

function wirePanel(sessionId, s) {
  const p = s.panel;
  const text = p.querySelector(".reply-text");
  const isNote = p.querySelector(".is-note");
  const fileInput = p.querySelector(".file-input");
  let lastTyping = 0;
  const post = (extra) => {
    const type = isNote.checked ? "note" : "reply";
    const frame = { type, session_id: sessionId, cid: newCid(), text: extra.text || "", ...extra.file ? { file: { sha256: extra.file.sha256 } } : {} };
    showPending(sessionId, s, frame);
    outbox.add(frame);
  };
  p.querySelector(".composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = text.value.trim();
    if (!t) return;
    text.value = "";
    post({ text: t });
  });
  text.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); p.querySelector(".composer").requestSubmit(); }
  });
  text.addEventListener("input", () => {
    if (Date.now() - lastTyping > 2000) { lastTyping = Date.now(); send({ type: "typing", session_id: sessionId, on: true }); }
  });
  fileInput.addEventListener("change", async () => {
    const file = fileInput.files[0];
    if (!file) return;
    const data = new FormData();
    data.append("file", file, file.name);
    const r = await fetch(`/api/sessions/${encodeURIComponent(sessionId)}/files`, {
      method: "POST", body: data, headers: { "X-CSRF-Token": csrf() },
    });
    const body = await r.json();
    fileInput.value = "";
    if (!r.ok) { alertIn(p, body.message || "upload refused"); return; }
    post({ file: body });
  });
  p.querySelector(".transfer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const queue = p.querySelector(".transfer-queue").value.trim();
    const agent = p.querySelector(".transfer-agent").value.trim();
    send({ type: "transfer", session_id: sessionId, ...(queue ? { queue } : {}), ...(agent ? { agent_id: agent } : {}) });
  });
  p.querySelector(".call").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const number = p.querySelector(".call-number").value.trim();
    if (number) send({ type: "call", session_id: sessionId, number });
  });
  p.querySelector(".end-chat").addEventListener("click", () => {
    send({ type: "end", session_id: sessionId });
  });
  p.querySelector(".close").addEventListener("submit", (ev) => {
    ev.preventDefault();
    send({ type: "close", session_id: sessionId, disposition: p.querySelector(".disposition").value });
  });
}

/** A message not acknowledged yet: at the bottom, below every stored entry. */
function showPending(sessionId, s, frame) {
  const li = entryItem(sessionId, {
    type: frame.type === "note" ? "note" : "message", from: "agent", agent: agentId, text: frame.text,
  });
  s.pending.set(frame.cid, li);
  s.timeline.append(li);
  s.timeline.scrollTop = s.timeline.scrollHeight;
}

function pendingItem(cid) {
  for (const s of sessions.values()) if (s.pending.has(cid)) return s.pending.get(cid);
  return null;
}

function alertIn(panel, message) {
  let box = panel.querySelector(".panel-error");
  if (!box) {
    box = el("p", { class: "error panel-error", role: "alert" });
    panel.querySelector(".session-head").after(box);
  }
  box.textContent = message;
}

function closePanel(sessionId, why) {
  const s = sessions.get(sessionId);
  if (!s) return;
  s.panel.querySelector(".session-state").textContent = why;
}

// ---- wire -------------------------------------------------------------------------------
function onFrame(f) {
  switch (f.type) {
    case "welcome":
      showStatus(f.agent.status, f.agent.reason);
      for (const o of f.offers || []) addOffer(o);
      break;
    case "offer": addOffer(f); break;
    case "offer_gone": removeOffer(f.offer_id); break;
    case "session": openPanel(f); break;
    case "handed_over": send({ type: "open", session_id: f.session_id }); break; // a transfer to me
    case "entry": renderEntry(f.session_id, f.entry); break;
    case "ack": {
      outbox.done(f.cid);
      const s = sessions.get(f.session_id);
      if (s && s.pending.has(f.cid)) {
        const li = s.pending.get(f.cid);
        s.pending.delete(f.cid);
        if (s.rendered.has(f.id)) li.remove();
        else {
          s.rendered.add(f.id);
          li.dataset.id = f.id;
          li.querySelector(".meta").textContent = "✓";
          placeById(s.timeline, li, f.id); // where the transcript put it
        }
      }
      break;
    }
    case "agent_status":
      if (f.agent === agentId) showStatus(f.status, f.reason);
      break;
    case "typing": {
      const s = sessions.get(f.session_id);
      if (s) {
        const t = s.panel.querySelector(".typing");
        t.textContent = f.on ? "customer is typing…" : "";
        setTimeout(() => { t.textContent = ""; }, 6000);
      }
      break;
    }
    case "receipt": {
      const s = sessions.get(f.session_id);
      if (s && f.party === "customer") {
        for (const li of s.timeline.querySelectorAll(".entry.agent")) {
          if (li.dataset.id && !idAfter(li.dataset.id, f.id)) li.querySelector(".meta").textContent = "✓✓";
        }
      }
      break;
    }
    case "contact_ended": closePanel(f.session_id, `${f.channel || "contact"} ended${f.reason ? ` (${f.reason})` : ""}`); break;
    case "session_closed": closePanel(f.session_id, `closed (${f.disposition || ""})`); break;
    case "transferred": closePanel(f.session_id, `transferred to ${f.queue || f.agent_id}`); break;
    case "call_requested": {
      const s = sessions.get(f.session_id);
      if (s) alertIn(s.panel, `calling ${f.number}…`);
      break;
    }
    case "error": {
      let message = f.message;
      if (f.ref && outbox.has(f.ref)) {
        const retrying = outbox.refused(f.ref, f.code);
        const li = pendingItem(f.ref);
        if (li) li.querySelector(".meta").textContent = retrying ? "retrying…" : "not sent";
        if (retrying) message = "Not sent yet: the service is busy or unavailable. It is sent again automatically.";
      }
      const current = [...sessions.values()].find((s) => !s.panel.hidden);
      if (current) alertIn(current.panel, message);
      else linkState.textContent = message;
      break;
    }
    default: break;
  }
}

link = connect("/ws/agent", [], {
  onOpen: () => {
    linkState.textContent = "online";
    link.send({ type: "hello" });
    outbox.resendAll(); // the same cids: whatever was stored already is acked as a duplicate
  },
  onClose: () => { linkState.textContent = "reconnecting…"; },
  onFrame,
});
// The heartbeat keeps the router's desktop presence lease alive.
setInterval(() => send({ type: "heartbeat" }), 10000);
