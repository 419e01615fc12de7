/* implus chat widget: ONE script tag on any site.
 *
 *   <script src="https://chat.example.com/static/widget.js"
 *           data-service="booking" data-token="<customer token from your backend>"></script>
 *
 * Options (data-*): service, token, mode ("floating" | "inline"), target (element id for
 * inline), demo ("on": ask for a user id and get a demo token; the server must allow it).
 *
 * Nothing sent is lost or duplicated: every message has a client id (cid) and stays in
 * localStorage until the server acks it; on reconnect the widget sends `hello` with the
 * last transcript entry it holds, gets everything after it, drops pending messages that
 * the replay shows were stored, and resends the rest with the same cid.
 * User data is only ever put in the page with textContent.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var base = new URL(script.src, document.baseURI);
  var origin = base.origin;
  var opts = {
    service: script.dataset.service || "general",
    token: script.dataset.token || "",
    mode: script.dataset.mode || "floating",
    target: script.dataset.target || "",
    demo: script.dataset.demo === "on",
  };
  if (!opts.token && /^#token=/.test(location.hash)) {
    // the full-page chat takes the token from the URL fragment (never sent to a server)
    opts.token = decodeURIComponent(location.hash.slice(7));
  }
  var EMOJI = ["😀", "😂", "🙂", "😉", "😍", "👍", "🙏", "🎉", "❤️", "😢", "😮", "🤔"];

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === "class") { node.className = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
      });
    }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function newCid() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  function idAfter(a, b) { // stream ids "ms-seq": is a later than b?
    if (!b) { return true; }
    var pa = a.split("-").map(Number), pb = b.split("-").map(Number);
    return pa[0] > pb[0] || (pa[0] === pb[0] && pa[1] > pb[1]);
  }

  // The transcript's (Redis stream's) order is the one order every view shows: an entry
  // goes where its id belongs, and messages not acknowledged yet stay below all of them.
  function placeById(list, li, id) {
    var before = null;
    for (var node = list.lastElementChild; node; node = node.previousElementSibling) {
      if (node === li) { continue; }
      if (node.dataset.id && !idAfter(id, node.dataset.id)) { before = node; continue; }
      if (node.dataset.id) { break; }
      before = node;
    }
    list.insertBefore(li, before);
  }

  // ---- UI -----------------------------------------------------------------------------
  var host = el("div", { class: "implus-widget-host" });
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  root.appendChild(el("link", { rel: "stylesheet", href: origin + "/static/widget.css" }));
  var box = el("section", { class: "box " + opts.mode, "aria-label": "Chat" });
  var head = el("header", { class: "head" });
  head.appendChild(el("span", { class: "title" }, "Chat with us"));
  var stateLine = el("span", { class: "state", role: "status" }, "offline");
  head.appendChild(stateLine);
  var toggle = el("button", { type: "button", class: "toggle", "aria-expanded": "true" }, "–");
  if (opts.mode === "floating") { head.appendChild(toggle); }
  box.appendChild(head);
  var body = el("div", { class: "body" });
  var log = el("ol", { class: "log", role: "log", "aria-live": "polite", "aria-label": "Messages" });
  var typing = el("p", { class: "typing", "aria-live": "polite" });
  var error = el("p", { class: "error", role: "alert" });
  body.appendChild(log);
  body.appendChild(typing);
  body.appendChild(error);

  var form = el("form", { class: "compose" });
  var input = el("textarea", { class: "text", rows: "2", maxlength: "4000",
    "aria-label": "Your message", placeholder: "Type a message" });
  var emojiBtn = el("button", { type: "button", class: "emoji-btn", "aria-label": "Insert emoji" }, "😀");
  var emojiBar = el("div", { class: "emoji-bar", hidden: "" });
  EMOJI.forEach(function (e) {
    var b = el("button", { type: "button", "aria-label": "emoji " + e }, e);
    b.addEventListener("click", function () { input.value += e; input.focus(); });
    emojiBar.appendChild(b);
  });
  emojiBtn.addEventListener("click", function () { emojiBar.hidden = !emojiBar.hidden; });
  var fileInput = el("input", { type: "file", class: "file", "aria-label": "Send a file or image" });
  var send = el("button", { type: "submit", class: "send" }, "Send");
  form.appendChild(input);
  form.appendChild(emojiBtn);
  form.appendChild(fileInput);
  form.appendChild(send);
  form.appendChild(emojiBar);

  var callForm = el("form", { class: "callme" });
  var callNumber = el("input", { type: "tel", maxlength: "24", class: "call-number",
    "aria-label": "Your phone number", placeholder: "+49 30 1234567" });
  callForm.appendChild(callNumber);
  callForm.appendChild(el("button", { type: "submit", class: "call-btn" }, "Call me"));

  var login = el("form", { class: "demo-login" });
  var userInput = el("input", { class: "user-id", "aria-label": "Your user id (demo)",
    placeholder: "user id, e.g. u42", maxlength: "128" });
  login.appendChild(el("label", {}, "Demo: chat as user id "));
  login.appendChild(userInput);
  login.appendChild(el("button", { type: "submit", class: "start" }, "Start chat"));

  box.appendChild(body);
  toggle.addEventListener("click", function () {
    body.hidden = !body.hidden;
    toggle.setAttribute("aria-expanded", String(!body.hidden));
  });
  root.appendChild(box);
  var mount = opts.target ? document.getElementById(opts.target) : null;
  (mount || document.body).appendChild(host);

  // ---- state ----------------------------------------------------------------------------
  var user = null;         // user id from the token (welcome frame)
  var sessionId = null;
  var lastId = null;       // last transcript entry id rendered
  var rendered = {};       // entry id -> li
  var pendingEls = {};     // cid -> li
  var ws = null;
  var backoff = 500;
  var replaying = false;
  var typingTimer = null;
  var lastTypingSent = 0;
  var agentSeen = null;

  function storeKey() { return "implus:" + origin + ":" + (user || "?") + ":" + opts.service; }
  function loadPending() {
    try { return JSON.parse(localStorage.getItem(storeKey() + ":pending") || "[]"); }
    catch (e) { return []; }
  }
  function savePending(list) {
    try { localStorage.setItem(storeKey() + ":pending", JSON.stringify(list)); } catch (e) { /* full */ }
  }
  function addPending(item) { var l = loadPending(); l.push(item); savePending(l); }
  function dropPending(cid) { savePending(loadPending().filter(function (p) { return p.cid !== cid; })); }

  function showError(text) {
    error.textContent = text || "";
    if (text) { setTimeout(function () { if (error.textContent === text) { error.textContent = ""; } }, 8000); }
  }

  function fetchFile(sid, file, into) {
    fetch(origin + "/files/" + encodeURIComponent(sid) + "/" + file.sha256, {
      headers: { Authorization: "Bearer " + opts.token },
    }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.blob();
    }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      if (/^image\/(png|jpeg|gif|webp)$/.test(file.mime)) {
        var img = el("img", { alt: file.name, class: "image" });
        img.src = url;
        into.appendChild(img);
      } else {
        var a = el("a", { download: file.name, class: "attachment" }, "📎 " + file.name);
        a.href = url;
        into.appendChild(a);
      }
    }).catch(function () { into.appendChild(el("span", { class: "muted" }, "(file unavailable)")); });
  }

  var CALL_WORDS = { "call.requested": "The agent is calling you", "call.ringing": "Your phone is ringing",
    "call.answered": "Call connected", "call.hangup": "Call ended" };

  function describe(entry) { // system entries in the customer's words
    if (entry.text) { return entry.text; }
    if (entry.type === "assigned") { return "An agent joined the chat"; }
    if (entry.type === "transferred") { return "You are being transferred to a colleague"; }
    if (entry.type === "closed") { return "The chat was closed"; }
    if (CALL_WORDS[entry.type]) {
      var d = entry.duration_s !== undefined ? " (" + Math.round(Number(entry.duration_s)) + " s)" : "";
      return "📞 " + CALL_WORDS[entry.type] + d;
    }
    return entry.type;
  }

  function entryItem(id, entry) {
    var who = entry.from === "customer" ? "me" : (entry.from === "agent" ? "agent" : "system");
    var li = el("li", { class: "entry " + who + " " + (entry.type || "message") });
    if (id) { li.dataset.id = id; }
    if (entry.type === "message") {
      li.appendChild(el("span", { class: "from" }, who === "me" ? "You" : (who === "agent" ? "Agent" : "")));
      if (entry.text) { li.appendChild(el("span", { class: "text" }, entry.text)); }
      if (entry.file && sessionId) { fetchFile(sessionId, entry.file, li); }
    } else {
      li.appendChild(el("span", { class: "text" }, describe(entry)));
    }
    var meta = el("span", { class: "meta" });
    li.appendChild(meta);
    return li;
  }

  function markStatus(li, text) {
    var meta = li.querySelector(".meta");
    if (meta) { meta.textContent = text; }
  }

  function render(id, entry) {
    if (rendered[id]) { return; }
    if (entry.cid && entry.from === "customer") { dropPending(entry.cid); }
    if (entry.cid && pendingEls[entry.cid]) { // our own message came back: it is stored
      var mine = pendingEls[entry.cid];
      delete pendingEls[entry.cid];
      dropPending(entry.cid);
      mine.dataset.id = id;
      rendered[id] = mine;
      markStatus(mine, "✓");
      placeById(log, mine, id);
    } else {
      var li = entryItem(id, entry);
      rendered[id] = li;
      placeById(log, li, id);
      if (entry.from === "customer") { markStatus(li, "✓"); }
    }
    if (!lastId || idAfter(id, lastId)) { lastId = id; }
    if (entry.from !== "customer" && !replaying) { sendFrame({ type: "seen", id: id }); }
    updateSeen();
    log.scrollTop = log.scrollHeight;
  }

  function updateSeen() {
    if (!agentSeen) { return; }
    Object.keys(rendered).forEach(function (id) {
      var li = rendered[id];
      if (li.classList.contains("me") && !idAfter(id, agentSeen)) { markStatus(li, "✓✓"); }
    });
  }

  function showPending(p) {
    var li = entryItem(null, { type: "message", from: "customer", text: p.text,
      file: p.file ? { sha256: p.file.sha256, name: p.file.name, mime: p.file.mime } : null });
    markStatus(li, "sending…");
    pendingEls[p.cid] = li;
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }

  // ---- wire -------------------------------------------------------------------------------
  function sendFrame(frame) {
    if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(frame)); return true; }
    return false;
  }

  function connect() {
    var url = origin.replace(/^http/, "ws") + "/ws/customer?service=" + encodeURIComponent(opts.service);
    stateLine.textContent = "connecting…";
    ws = new WebSocket(url, ["implus", "token." + opts.token]);
    ws.onopen = function () {
      backoff = 500;
      replaying = true;
      sendFrame({ type: "hello", after: lastId });
    };
    ws.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      onFrame(f);
    };
    ws.onclose = function () {
      stateLine.textContent = "reconnecting…";
      setTimeout(connect, backoff / 2 + Math.random() * backoff); // jitter: no storms
      backoff = Math.min(backoff * 2, 10000);
    };
  }

  function resendPending() {
    loadPending().forEach(function (p) {
      if (!pendingEls[p.cid]) { showPending(p); }
      var frame = p.kind === "call_me"
        ? { type: "call_me", cid: p.cid, number: p.number }
        : { type: "message", cid: p.cid, text: p.text || "" };
      if (p.file) { frame.file = { sha256: p.file.sha256 }; }
      sendFrame(frame);
    });
  }

  function onFrame(f) {
    if (f.type === "voip_ring") { if (voip) { voip.ring(f); } return; }
    switch (f.type) {
      case "welcome":
        user = f.user_id;
        sessionId = f.session_id;
        if (f.receipts && f.receipts.agent) { agentSeen = f.receipts.agent; }
        stateLine.textContent = sessionId ? "connected" : "ready";
        if (!sessionId) { replaying = false; resendPending(); }
        break;
      case "entry":
        sessionId = f.session_id;
        render(f.id, f.entry);
        break;
      case "replay_done":
        replaying = false;
        if (lastId) { sendFrame({ type: "seen", id: lastId }); }
        resendPending();
        break;
      case "ack":
        sessionId = f.session_id;
        dropPending(f.cid);
        if (pendingEls[f.cid]) {
          var li = pendingEls[f.cid];
          delete pendingEls[f.cid];
          if (rendered[f.id]) { li.remove(); } else {
            li.dataset.id = f.id; rendered[f.id] = li; markStatus(li, "✓");
            placeById(log, li, f.id);
            if (!lastId || idAfter(f.id, lastId)) { lastId = f.id; }
          }
        }
        break;
      case "receipt":
        if (f.party === "agent") { agentSeen = f.id; updateSeen(); }
        break;
      case "typing":
        typing.textContent = f.on ? (f.name || "Agent") + " is typing…" : "";
        clearTimeout(typingTimer);
        if (f.on) { typingTimer = setTimeout(function () { typing.textContent = ""; }, 6000); }
        break;
      case "agent_joined":
        stateLine.textContent = "an agent is with you";
        break;
      case "request":
        if (f.state === "queued") {
          stateLine.textContent = f.channel === "voice" ? "waiting for an agent to call you…" : "waiting for an agent…";
        }
        break;
      case "session_closed":
        stateLine.textContent = "chat closed";
        break;
      case "error":
        if (f.ref) {
          // rate limited or temporarily unavailable: keep it pending and retry later
          if (f.code === "rate_limited" || f.code === "unavailable") {
            setTimeout(resendPending, 2000);
            return;
          }
          dropPending(f.ref);
          if (pendingEls[f.ref]) { markStatus(pendingEls[f.ref], "not sent"); delete pendingEls[f.ref]; }
        }
        showError(f.message);
        break;
      default:
        break;
    }
  }

  function queue(item) {
    addPending(item);
    showPending(item);
    var frame = item.kind === "call_me"
      ? { type: "call_me", cid: item.cid, number: item.number }
      : { type: "message", cid: item.cid, text: item.text || "" };
    if (item.file) { frame.file = { sha256: item.file.sha256 }; }
    sendFrame(frame);
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    input.value = "";
    queue({ cid: newCid(), text: text });
  });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); }
  });
  input.addEventListener("input", function () {
    var now = Date.now();
    if (now - lastTypingSent > 2000) { lastTypingSent = now; sendFrame({ type: "typing", on: true }); }
  });
  fileInput.addEventListener("change", function () {
    var file = fileInput.files && fileInput.files[0];
    if (!file) { return; }
    var data = new FormData();
    data.append("file", file, file.name);
    fetch(origin + "/widget/files?service=" + encodeURIComponent(opts.service), {
      method: "POST", body: data, headers: { Authorization: "Bearer " + opts.token },
    }).then(function (r) {
      return r.json().then(function (j) { return { ok: r.ok, body: j }; });
    }).then(function (res) {
      fileInput.value = "";
      if (!res.ok) { showError(res.body.message || "upload refused"); return; }
      sessionId = res.body.session_id;
      queue({ cid: newCid(), text: "", file: res.body });
    }).catch(function () { showError("upload failed: check your connection and try again"); });
  });
  callForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var number = callNumber.value.trim();
    if (!number) { return; }
    queue({ cid: newCid(), kind: "call_me", number: number, text: "Please call me at " + number });
    callNumber.value = "";
  });

  var voip = null; // VoIP: "Call us" and callbacks (voip-widget.js, docs/voip.md)
  function start() {
    body.appendChild(form);
    body.appendChild(callForm);
    connect();
    import(origin + "/static/voip-widget.js").then(function (m) {
      voip = m.attach({ origin: origin, token: opts.token, service: opts.service,
        container: body, root: root, showError: showError });
    }).catch(function () { /* no VoIP: the chat works as before */ });
  }

  if (opts.token) {
    start();
  } else if (opts.demo) {
    body.appendChild(login);
    login.addEventListener("submit", function (ev) {
      ev.preventDefault();
      fetch(origin + "/widget/demo-token", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ user_id: userInput.value.trim() }),
      }).then(function (r) {
        return r.json().then(function (j) { return { ok: r.ok, body: j }; });
      }).then(function (res) {
        if (!res.ok) { showError(res.body.message || "cannot start the demo"); return; }
        opts.token = res.body.token;
        login.remove();
        start();
      });
    });
  } else {
    body.appendChild(el("p", { class: "muted" }, "Chat is not available (no token)."));
  }
})();
