// The agent desktop's softphone (docs/voip.md): for agents whose phone in the admin YAML
// is `phone: webrtc`. It registers through the chat service's SIP relay (the relay holds
// the SIP password; this page never sees it), so the PBX's device state - and with it the
// router's voice presence - follows the registration exactly as for a SIP phone. Calls
// the PBX sends (voice and VoIP offers) ring here: Answer answers in the browser.
// Also the session panels' "VoIP call" button: ring the customer's widget.
import { attachMedia, checkMicrophone, clock, el, loadSip, makeAgent, ringTone, setMuted }
  from "./voip-core.js";

const side = document.querySelector(".desktop .side");
const csrfToken = document.querySelector("meta[name=csrf-token]")?.content || "";
const origin = location.origin;

const panel = el("section", { class: "softphone", "aria-labelledby": "softphone-h", "data-state": "off" });
const status = el("p", { class: "softphone-status", role: "status" }, "");
const who = el("p", { class: "softphone-caller" }, "");
const timer = el("span", { class: "softphone-timer" }, "");
const answerBtn = el("button", { type: "button", class: "softphone-answer", hidden: "" }, "Answer");
const declineBtn = el("button", { type: "button", class: "softphone-decline", hidden: "" }, "Decline");
const muteBtn = el("button", { type: "button", class: "softphone-mute", hidden: "" }, "Mute");
const holdBtn = el("button", { type: "button", class: "softphone-hold", hidden: "" }, "Hold");
const hangBtn = el("button", { type: "button", class: "softphone-hangup", hidden: "" }, "Hang up");
const audio = el("audio", { class: "softphone-audio", autoplay: "" });
panel.append(el("h2", { id: "softphone-h" }, "Softphone"), status, who, timer,
  answerBtn, declineBtn, muteBtn, holdBtn, hangBtn, audio);

let SIP = null, ua = null, registerer = null, call = null, stopMedia = () => {}, tick = null;
let muted = false, held = false;
const tone = ringTone();

function show(state, text) {
  panel.dataset.state = state;
  status.textContent = text;
  answerBtn.hidden = declineBtn.hidden = state !== "ringing";
  muteBtn.hidden = holdBtn.hidden = hangBtn.hidden = state !== "connected";
}

async function start() {
  let line;
  try {
    const r = await fetch("/api/voip/softphone", { credentials: "same-origin" });
    line = await r.json();
  } catch (e) { return; }
  if (!line.enabled) return; // a SIP phone: nothing to show
  side.append(panel);
  const mic = await checkMicrophone(false);
  if (mic.error) { show("off", mic.error); return; }
  show("connecting", "Registering…");
  try {
    SIP = await loadSip(origin);
    ua = await makeAgent(SIP, origin, line, { onInvite: incoming, onDisconnect: lost });
    registerer = new SIP.Registerer(ua, { expires: 300 });
    registerer.stateChange.addListener((s) => {
      if (s === SIP.RegistererState.Registered) show(call ? panel.dataset.state : "ready", call ? status.textContent : "Ready: calls ring here");
      if (s === SIP.RegistererState.Unregistered) show("off", "Not registered: you are not offered calls");
    });
    await registerer.register({
      requestDelegate: { onReject: (res) => show("off", `Registration refused: ${res.message.reasonPhrase}`) },
    });
  } catch (e) {
    show("off", "The softphone cannot connect: calls go to nobody. Reload the page to retry.");
  }
}

function lost() {
  show("off", "Connection lost: not registered (reload the page)");
}

function incoming(invitation) {
  if (call) { invitation.reject({ statusCode: 486 }).catch(() => {}); return; }
  call = invitation;
  const from = invitation.remoteIdentity;
  who.textContent = `${from.displayName || ""} ${from.uri.user || ""}`.trim();
  show("ringing", "Incoming call");
  tone.start();
  invitation.stateChange.addListener((s) => {
    if (s === SIP.SessionState.Established) {
      tone.stop();
      stopMedia = attachMedia(invitation, panel, audio, performance.now());
      const since = performance.now();
      tick = setInterval(() => { timer.textContent = clock(since); }, 500);
      show("connected", "Connected");
    } else if (s === SIP.SessionState.Terminated) {
      ended();
    }
  });
}

function ended() {
  tone.stop();
  stopMedia(); stopMedia = () => {};
  clearInterval(tick); tick = null; timer.textContent = "";
  call = null; muted = held = false;
  muteBtn.textContent = "Mute"; holdBtn.textContent = "Hold";
  who.textContent = "";
  show("ready", "Call ended: ready");
}

answerBtn.addEventListener("click", () => {
  if (!call) return;
  tone.stop();
  call.accept({ sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } } })
    .catch(() => show("ready", "Could not answer (microphone?)"));
});
declineBtn.addEventListener("click", () => { if (call) call.reject().catch(() => {}); });
hangBtn.addEventListener("click", () => { if (call) call.bye().catch(() => {}); });
muteBtn.addEventListener("click", () => {
  if (!call) return;
  muted = !muted;
  setMuted(call, muted);
  muteBtn.textContent = muted ? "Unmute" : "Mute";
  panel.dataset.muted = String(muted);
});
holdBtn.addEventListener("click", () => {
  if (!call) return;
  held = !held;
  const modifiers = held ? [SIP.Web.holdModifier] : [];
  call.invite({ sessionDescriptionHandlerModifiers: modifiers })
    .then(() => { holdBtn.textContent = held ? "Resume" : "Hold"; panel.dataset.held = String(held); })
    .catch(() => { held = !held; });
});
window.addEventListener("beforeunload", () => { if (registerer) registerer.unregister().catch(() => {}); });

// "VoIP call" in a session panel: ring the customer's widget, or say to call their phone.
document.getElementById("sessions")?.addEventListener("click", async (ev) => {
  const btn = ev.target.closest(".voip-call");
  if (!btn) return;
  const sessionPanel = btn.closest("[data-session]");
  const out = sessionPanel.querySelector(".voip-call-result") || el("span", { class: "voip-call-result", role: "status" });
  btn.after(out);
  out.textContent = "Ringing the customer's chat window…";
  btn.disabled = true;
  try {
    const r = await fetch(`/api/sessions/${encodeURIComponent(sessionPanel.dataset.session)}/voip-call`, {
      method: "POST", headers: { "X-CSRF-Token": csrfToken, "Content-Type": "application/json" }, body: "{}",
    });
    const j = await r.json();
    if (!r.ok) out.textContent = j.message || "The VoIP call failed.";
    else if (j.online) out.textContent = "Ringing in the customer's browser: when they accept, the call rings here.";
    else {
      out.textContent = "The customer's chat window is not open: call their phone with Click to call.";
      sessionPanel.querySelector(".call-number")?.focus();
    }
  } catch (e) {
    out.textContent = "The VoIP call failed: check your connection.";
  } finally {
    btn.disabled = false;
  }
});

start();
