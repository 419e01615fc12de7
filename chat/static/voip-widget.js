// The widget's VoIP part (docs/voip.md): "Call us" when the service has a VoIP line, and
// the incoming-call panel of a VoIP callback (accept / decline, ring tone). widget.js
// loads it with attach(); everything the customer sees goes in via textContent.
import { attachMedia, checkMicrophone, clock, el, loadSip, makeAgent, refusalText, ringTone, setMuted }
  from "./voip-core.js";

export function attach(w) {
  // w: {origin, token, service, container, root, showError}
  const panel = el("div", { class: "voip", "data-state": "idle" });
  const status = el("span", { class: "voip-status", role: "status" }, "");
  const timer = el("span", { class: "voip-timer" }, "");
  const callBtn = el("button", { type: "button", class: "voip-call-us" }, "📞 Call us");
  const muteBtn = el("button", { type: "button", class: "voip-mute", hidden: "" }, "Mute");
  const hangBtn = el("button", { type: "button", class: "voip-hangup", hidden: "" }, "Hang up");
  const ringBox = el("div", { class: "voip-ring", hidden: "" });
  const ringText = el("span", { class: "voip-ring-text" }, "");
  const acceptBtn = el("button", { type: "button", class: "voip-accept" }, "Accept");
  const declineBtn = el("button", { type: "button", class: "voip-decline" }, "Decline");
  const audio = el("audio", { class: "voip-audio", autoplay: "" });
  ringBox.append(ringText, acceptBtn, declineBtn);
  panel.append(callBtn, muteBtn, hangBtn, status, timer, ringBox, audio);
  w.root.appendChild(el("link", { rel: "stylesheet", href: `${w.origin}/static/voip.css` }));
  callBtn.hidden = true;
  w.container.appendChild(panel);

  let session = null, stopMedia = () => {}, tick = null, muted = false, ua = null, micStream = null;
  const tone = ringTone();
  let pendingRing = null;

  function setState(state, text) {
    panel.dataset.state = state;
    status.textContent = text || "";
    const inCall = state === "calling" || state === "connected";
    callBtn.hidden = inCall || !line;
    muteBtn.hidden = state !== "connected";
    hangBtn.hidden = !inCall;
  }

  function api(path, body) {
    return fetch(w.origin + path, {
      method: "POST",
      headers: { Authorization: `Bearer ${w.token}`, "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
    }).then((r) => r.json().then((j) => ({ ok: r.ok, body: j })));
  }

  let line = null;
  // Is there a VoIP line for this service? (The ticket inside is not used: one per call.)
  api(`/widget/voip?service=${encodeURIComponent(w.service)}`).then((res) => {
    if (!res.ok) return;
    line = res.body;
    setState("idle");
    // Load SIP.js now, not when the customer presses the button.
    loadSip(w.origin).then(() => { callBtn.dataset.ready = "1"; }).catch(() => {});
  }).catch(() => {});

  async function call() {
    const startedAt = performance.now();
    const marks = {};
    const mark = (name) => { marks[name] = Math.round(performance.now() - startedAt); panel.dataset.marks = JSON.stringify(marks); };
    panel.dataset.pressedAt = String(Date.now());
    delete panel.dataset.firstRtpMs;
    setState("calling", "Calling…");
    // The microphone, the ticket and the library in parallel: each is a round trip.
    const [mic, res, SIP] = await Promise.all([
      checkMicrophone(true).then((m) => { mark("microphone"); return m; }),
      api(`/widget/voip?service=${encodeURIComponent(w.service)}`)
        .then((r) => { mark("ticket"); return r; }).catch(() => null),
      loadSip(w.origin).then((m) => { mark("library"); return m; }).catch(() => null),
    ]);
    if (mic.error) { setState("idle", mic.error); w.showError(mic.error); return; }
    if (!res) { setState("idle", "Cannot reach the service: check your connection."); return; }
    if (!res.ok) { setState("idle", res.body.message || "VoIP calls are not available."); return; }
    if (!SIP) { setState("idle", "VoIP could not be loaded: reload the page."); return; }
    micStream = mic.stream;
    mark("ready");
    try {
      if (ua) { ua.stop().catch(() => {}); }
      ua = await makeAgent(SIP, w.origin, res.body, {}, micStream);
      mark("connected");
      const target = SIP.UserAgent.makeURI(`sip:${w.number || res.body.numbers[0]}@implus.invalid`);
      session = new SIP.Inviter(ua, target, {
        sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } },
      });
      session.stateChange.addListener((state) => {
        if (state === SIP.SessionState.Established) {
          mark("established");
          stopMedia = attachMedia(session, panel, audio, startedAt);
          const since = performance.now();
          setState("connected", "Connected");
          tick = setInterval(() => { timer.textContent = clock(since); }, 500);
        } else if (state === SIP.SessionState.Terminated) {
          ended(panel.dataset.state === "connected" ? "Call ended" : status.textContent);
        }
      });
      await session.invite({
        requestDelegate: {
          onReject: (response) => { ended(refusalText(response)); },
          onTrying: () => mark("trying"),
          onProgress: () => { mark("progress"); if (panel.dataset.state === "calling") setState("calling", "Ringing…"); },
        },
      });
    } catch (e) {
      ended(e && e.name === "NotAllowedError" ? "Microphone access was denied." : "The call could not be placed: try again.");
    }
  }

  function ended(text) {
    if (panel.dataset.state === "ended" && !session) return;
    stopMedia(); stopMedia = () => {};
    clearInterval(tick); tick = null;
    session = null; muted = false; muteBtn.textContent = "Mute";
    if (micStream) { micStream.getTracks().forEach((t) => t.stop()); micStream = null; }
    setState("ended", text || "Call ended");
    if (ua) { const old = ua; ua = null; setTimeout(() => old.stop().catch(() => {}), 500); }
  }

  function hangUp() {
    if (!session) return;
    const s = session;
    if (s.state === "Established") s.bye().catch(() => {});
    else if (s.cancel) s.cancel().catch(() => {});
  }

  callBtn.addEventListener("click", () => { call(); });
  hangBtn.addEventListener("click", hangUp);
  muteBtn.addEventListener("click", () => {
    if (!session) return;
    muted = !muted;
    setMuted(session, muted);
    muteBtn.textContent = muted ? "Unmute" : "Mute";
    panel.dataset.muted = String(muted);
  });

  function answerRing(state) {
    if (!pendingRing) return Promise.resolve();
    const ring = pendingRing;
    pendingRing = null;
    tone.stop();
    ringBox.hidden = true;
    return api(`/widget/voip/ring/${encodeURIComponent(ring)}?service=${encodeURIComponent(w.service)}`, { state });
  }
  acceptBtn.addEventListener("click", () => { answerRing("accepted").then(() => call()); });
  declineBtn.addEventListener("click", () => { answerRing("declined"); setState("idle", "Call declined"); });

  return {
    // A VoIP callback: the agent rings this widget (frame voip_ring from the chat socket).
    ring(frame) {
      if (frame.state !== "ringing" || !frame.ring || session) return;
      pendingRing = frame.ring;
      ringText.textContent = `${frame.name || "Your agent"} is calling you`;
      ringBox.hidden = false;
      panel.dataset.state = "incoming";
      tone.start();
      api(`/widget/voip/ring/${encodeURIComponent(frame.ring)}?service=${encodeURIComponent(w.service)}`, { state: "seen" });
      setTimeout(() => { if (pendingRing === frame.ring) { answerRing("missed"); setState("idle", "Missed call"); } }, 30000);
    },
    call,
    hangUp,
  };
}
