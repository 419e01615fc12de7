// The widget's behaviour: config (is this site allowed? greeting, "Call me"), the
// websocket with resume, and the outbox.
//
// Nothing sent is lost or duplicated: every message has a client id (cid) and stays in
// localStorage until the server acks it; on reconnect the widget sends `hello` with the
// last transcript entry it holds, gets everything after it, drops pending messages that
// the replay shows were stored, and resends the rest with the same cid.
// User data is only ever put in the page with textContent.
import { Log } from "./log.js";
import { build, el, toggler } from "./ui.js";

function newCid() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/** A stable 64-bit tag of a string (two FNV-1a lanes): names the token's storage without
 * storing the token, and two tokens of one browser do not meet under one tag. */
function tag(s) {
  let a = 0x811c9dc5, b = 0x01000193 ^ s.length;
  for (let i = 0; i < s.length; i++) {
    a = Math.imul(a ^ s.charCodeAt(i), 0x01000193);
    b = Math.imul(b ^ s.charCodeAt(i), 0x5bd1e995);
  }
  return (a >>> 0).toString(36) + (b >>> 0).toString(36);
}

function visit() {
  const cut = (s, n) => String(s || "").slice(0, n);
  return { page: cut(location.href.split("#")[0], 2000), title: cut(document.title, 300),
    referrer: cut(document.referrer, 2000), browser: cut(navigator.userAgent, 500), language: cut(navigator.language, 35) };
}

export function start(opts, origin) {
  const ui = build(opts, origin);
  const panel = toggler(ui, opts, `implus:${origin}:${opts.service}:open`);
  let config = { greeting: opts.greeting };
  let user = null;
  let sessionId = null;
  let ws = null;
  let backoff = 500;
  let failures = 0;
  let replaying = false;
  let typingTimer = null;
  let lastTypingSent = 0;
  let agentSeen = null;

  const log = new Log(ui.log, (file, into) => fetchFile(file, into));
  panel.onOpen = () => { if (log.lastId) sendFrame({ type: "seen", id: log.lastId }); };
  // Pending messages are kept per user, and the user id comes with the first welcome. What
  // is written before it (the websocket still opening, Redis restarting) is kept under the
  // token meanwhile - a tag of it: the token is a credential - and `adopt` moves it to the
  // user's list, so it is sent with the rest rather than left "sending…" for good.
  const earlyKey = () => `implus:${origin}:t${tag(opts.token)}:${opts.service}:pending`;
  const storeKey = () => (user ? `implus:${origin}:${user}:${opts.service}:pending` : earlyKey());
  const loadPending = (key = storeKey()) => { try { return JSON.parse(localStorage.getItem(key) || "[]"); } catch { return []; } };
  const savePending = (l) => { try { localStorage.setItem(storeKey(), JSON.stringify(l)); } catch { /* full */ } };
  const dropPending = (cid) => savePending(loadPending().filter((p) => p.cid !== cid));

  /** The welcome named the user: their list takes what was written before it. */
  function adopt(userId) {
    user = userId;
    const early = loadPending(earlyKey());
    if (!early.length) return;
    const mine = loadPending();
    const known = new Set(mine.map((p) => p.cid));
    savePending([...mine, ...early.filter((p) => !known.has(p.cid))]);
    try { localStorage.removeItem(earlyKey()); } catch { /* storage off */ }
  }

  function showError(text, sticky = false) {
    ui.error.textContent = text || "";
    if (text && !sticky) setTimeout(() => { if (ui.error.textContent === text) ui.error.textContent = ""; }, 8000);
  }

  async function fetchFile(file, into) {
    try {
      const r = await fetch(`${origin}/files/${encodeURIComponent(sessionId)}/${file.sha256}`,
        { headers: { Authorization: `Bearer ${opts.token}` } });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const url = URL.createObjectURL(await r.blob());
      if (/^image\/(png|jpeg|gif|webp)$/.test(file.mime)) {
        const img = el("img", { alt: file.name, class: "image" });
        img.src = url;
        into.insertBefore(img, into.querySelector(".meta"));
        await img.decode().catch(() => {});
      } else {
        const a = el("a", { download: file.name, class: "attachment" }, `📎 ${file.name}`);
        a.href = url;
        into.insertBefore(a, into.querySelector(".meta"));
      }
    } catch {
      into.append(el("span", { class: "muted" }, "(file unavailable)"));
    }
  }

  /** The service's view of this page: allowed here? greeting? can we call back? */
  async function loadConfig(withToken) {
    const headers = withToken && opts.token ? { Authorization: `Bearer ${opts.token}` } : {};
    const r = await fetch(`${origin}/widget/config?service=${encodeURIComponent(opts.service)}`, { headers });
    if (r.status >= 500) throw new Error(`widget config: HTTP ${r.status}`); // try again later
    return r.json();
  }

  function sendFrame(frame) {
    if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(frame)); return true; }
    return false;
  }

  function frameOf(p) {
    const frame = p.kind === "call_me" ? { type: "call_me", cid: p.cid, number: p.number } : { type: "message", cid: p.cid, text: p.text || "" };
    if (p.file) frame.file = { sha256: p.file.sha256 };
    return frame;
  }

  function resendPending() {
    for (const p of loadPending()) {
      if (!log.pending.has(p.cid)) log.showPending(p);
      sendFrame(frameOf(p));
    }
  }

  function connect() {
    const url = `${origin.replace(/^http/, "ws")}/ws/customer?service=${encodeURIComponent(opts.service)}`;
    ui.state.textContent = "connecting…";
    ws = new WebSocket(url, ["implus", `token.${opts.token}`]);
    let opened = false;
    ws.onopen = () => { opened = true; backoff = 500; failures = 0; replaying = true; sendFrame({ type: "hello", after: log.lastId, visit: visit() }); };
    ws.onmessage = (ev) => { let f; try { f = JSON.parse(ev.data); } catch { return; } onFrame(f); };
    ws.onclose = () => {
      ui.state.textContent = "reconnecting…";
      if (!opened && ++failures === 3) explainFailure();
      setTimeout(connect, backoff / 2 + Math.random() * backoff); // jitter: no storms
      backoff = Math.min(backoff * 2, 10000);
    };
  }

  /** The websocket keeps failing before it opens: ask the service why (a refused origin
   * or an expired token cannot be read from a failed websocket). */
  async function explainFailure() {
    try {
      const c = await loadConfig(true);
      if (!c.origin_allowed) showError(c.message, true);
      else if (c.token_ok === false) showError(c.token_message, true);
      else showError("The chat service cannot be reached right now; still trying…", true);
    } catch {
      showError("The chat service cannot be reached right now; still trying…", true);
    }
  }

  function onFrame(f) {
    if (f.type === "voip_ring") { if (voip) voip.ring(f); return; }
    switch (f.type) {
      case "welcome":
        adopt(f.user_id);
        sessionId = f.session_id;
        showError("");
        if (f.receipts && f.receipts.agent) agentSeen = f.receipts.agent;
        ui.state.textContent = sessionId ? "connected" : "we usually answer within minutes";
        if (!sessionId) { replaying = false; resendPending(); }
        break;
      case "entry":
        sessionId = f.session_id;
        if (f.entry.cid && f.entry.from === "customer") dropPending(f.entry.cid);
        if (log.add(f.id, f.entry) && !replaying) {
          if (panel.open) sendFrame({ type: "seen", id: f.id });
          else panel.unread(panel.count + 1); // seen once the customer opens the chat
        }
        if (agentSeen) log.seenUpTo(agentSeen);
        break;
      case "replay_done":
        replaying = false;
        if (log.lastId) sendFrame({ type: "seen", id: log.lastId });
        resendPending();
        break;
      case "ack":
        sessionId = f.session_id;
        dropPending(f.cid);
        log.acked(f.cid, f.id);
        break;
      case "receipt":
        if (f.party === "agent") { agentSeen = f.id; log.seenUpTo(agentSeen); }
        break;
      case "typing":
        ui.typing.textContent = f.on ? `${f.name || "Agent"} is typing…` : "";
        clearTimeout(typingTimer);
        if (f.on) typingTimer = setTimeout(() => { ui.typing.textContent = ""; }, 6000);
        break;
      case "agent_joined": ui.state.textContent = "an agent is with you"; break;
      case "request":
        if (f.state === "queued") ui.state.textContent = f.channel === "voice" ? "waiting for an agent to call you…" : "waiting for an agent…";
        break;
      case "session_closed": ui.state.textContent = "chat closed - write again any time"; break;
      case "error":
        if (f.ref) {
          if (f.code === "rate_limited" || f.code === "unavailable") { setTimeout(resendPending, 2000); return; }
          dropPending(f.ref);
          log.notSent(f.ref);
        }
        showError(f.message);
        break;
      default: break;
    }
  }

  function queue(item) {
    savePending([...loadPending(), item]);
    log.showPending(item);
    sendFrame(frameOf(item));
  }

  ui.form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = ui.input.value.trim();
    if (!text) return;
    ui.input.value = "";
    queue({ cid: newCid(), text });
  });
  ui.input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); ui.form.requestSubmit(); }
  });
  ui.input.addEventListener("input", () => {
    if (Date.now() - lastTypingSent > 2000) { lastTypingSent = Date.now(); sendFrame({ type: "typing", on: true }); }
  });
  ui.fileInput.addEventListener("change", async () => {
    const file = ui.fileInput.files && ui.fileInput.files[0];
    ui.fileInput.value = "";
    if (!file) return;
    if (config.upload_max_bytes && file.size > config.upload_max_bytes) {
      showError(`The file is larger than the ${config.upload_limit} limit: send a smaller one.`);
      return;
    }
    const data = new FormData();
    data.append("file", file, file.name);
    try {
      const r = await fetch(`${origin}/widget/files?service=${encodeURIComponent(opts.service)}`, {
        method: "POST", body: data, headers: { Authorization: `Bearer ${opts.token}` } });
      const body = await r.json();
      if (!r.ok) { showError(body.message || "upload refused"); return; }
      sessionId = body.session_id;
      queue({ cid: newCid(), text: "", file: body });
    } catch {
      showError("Upload failed: check your connection and try again.");
    }
  });
  ui.callForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const number = ui.callNumber.value.trim();
    if (!number) return;
    queue({ cid: newCid(), kind: "call_me", number, text: `Please call me at ${number}` });
    ui.callNumber.value = "";
    ui.callForm.hidden = true;
    ui.callToggle.setAttribute("aria-expanded", "false");
  });

  let voip = null; // VoIP: "Call us" and callbacks (voip-widget.js, docs/voip.md)
  function begin() {
    ui.body.append(ui.form, ui.callBox);
    connect();
    if (!config.voip) return; // VoIP is off here: asking /widget/voip would only get a 403
    import(`${origin}/static/voip-widget.js`).then((m) => {
      voip = m.attach({ origin, token: opts.token, service: opts.service,
        container: ui.body, root: ui.root, showError });
    }).catch(() => { /* no VoIP: the chat works as before */ });
  }

  /** Start once the config is read; while it cannot be (the service restarting, a proxy
   * answering 502), say so and try again, waiting longer each time (up to 30 s). */
  function start(wait) {
    loadConfig(false).then(configured).catch(() => {
      ui.state.textContent = "unavailable";
      showError(`The chat service cannot be reached right now; trying again in ${Math.round(wait / 1000)} s…`, true);
      setTimeout(() => start(Math.min(wait * 2, 30000)), wait);
    });
  }
  start(1000);

  function configured(c) {
    showError("");
    config = { ...c, greeting: opts.greeting || c.greeting };
    if (!c.origin_allowed) {
      ui.state.textContent = "unavailable";
      showError(c.message, true);
      return;
    }
    log.greet(config.greeting);
    ui.callBox.hidden = !c.call_me;
    if (opts.token) begin();
    else if (opts.demo) demoLogin();
    else ui.body.append(el("p", { class: "muted" }, "Chat is not available on this page (no customer token)."));
  }

  function demoLogin() {
    ui.state.textContent = "demo";
    ui.body.append(ui.login);
    ui.login.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const r = await fetch(`${origin}/widget/demo-token`, { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ user_id: ui.userInput.value.trim(), name: ui.nameInput.value.trim() }) });
      const body = await r.json();
      if (!r.ok) { showError(body.message || "cannot start the demo"); return; }
      opts.token = body.token;
      ui.login.remove();
      begin();
      ui.input.focus();
    });
  }
}
