// Browser VoIP for the widget and the desktop's softphone (docs/voip.md): SIP.js (npm,
// served from node_modules at /vendor/sip.js/) over the chat service's SIP relay; media
// goes straight between the browser and the PBX (DTLS-SRTP, ICE).
// A call's panel carries data-state and RTP counters (data-packets-sent/-received,
// data-first-rtp-ms) from getStats(), so people and tests see audio really flows.

export const MIC_DENIED = "Microphone access was denied: allow it for this page to call. The chat keeps working.";
export const NO_MIC = "No microphone was found: plug one in to call. The chat keeps working.";

let sipPromise = null;
export function loadSip(origin) {
  if (!sipPromise) sipPromise = import(`${origin}/vendor/sip.js/lib/index.js`);
  return sipPromise;
}

export function el(tag, attrs, text) {
  const node = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  });
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// Ask for the microphone before any SIP: a refusal is a clear message, not a failed call.
// Returns {error} or {stream}; the stream is handed to SIP.js for the call (one prompt,
// no second getUserMedia while the call is set up).
export async function checkMicrophone(keep) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return { error: NO_MIC };
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    if (!keep) stream.getTracks().forEach((t) => t.stop());
    return { error: "", stream: keep ? stream : null };
  } catch (e) {
    if (e && (e.name === "NotAllowedError" || e.name === "SecurityError")) return { error: MIC_DENIED };
    return { error: NO_MIC };
  }
}

// `stream`: a microphone stream to use for calls (else SIP.js asks for one per call).
export async function makeAgent(SIP, origin, line, delegate, stream) {
  const wsBase = origin.replace(/^http/, "ws");
  const ice = line.ice_servers || [];
  const options = {
    uri: SIP.UserAgent.makeURI(line.uri),
    transportOptions: { server: wsBase + line.ws, traceSip: false },
    sessionDescriptionHandlerFactoryOptions: {
      peerConnectionConfiguration: { iceServers: ice },
      // Without STUN/TURN only host candidates exist and come at once; with them, wait
      // for server-reflexive / relay candidates (Asterisk takes no trickle ICE).
      iceGatheringTimeout: ice.length ? 1500 : 150,
    },
    logBuiltinEnabled: false,
    logLevel: "error",
    userAgentString: "implus-browser",
    delegate: delegate || {},
  };
  if (stream) {
    const reuse = () => Promise.resolve(stream.clone());
    options.sessionDescriptionHandlerFactory = SIP.Web.defaultSessionDescriptionHandlerFactory(reuse);
  }
  const ua = new SIP.UserAgent(options);
  await ua.start();
  return ua;
}

// Play the far end and keep the panel's counters up to date until the call ends.
export function attachMedia(session, panel, audio, startedAt) {
  const sdh = session.sessionDescriptionHandler;
  if (!sdh || !sdh.peerConnection) return () => {};
  const pc = sdh.peerConnection;
  const stream = new MediaStream();
  pc.getReceivers().forEach((r) => { if (r.track) stream.addTrack(r.track); });
  audio.srcObject = stream;
  audio.play().catch(() => {});
  const timer = setInterval(async () => {
    let sent = 0, received = 0;
    try {
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type === "outbound-rtp" && s.kind === "audio") sent += s.packetsSent || 0;
        if (s.type === "inbound-rtp" && s.kind === "audio") received += s.packetsReceived || 0;
      });
    } catch (e) { return; }
    panel.dataset.packetsSent = String(sent);
    panel.dataset.packetsReceived = String(received);
    if (received > 0 && !panel.dataset.firstRtpMs && startedAt) {
      panel.dataset.firstRtpMs = String(Math.round(performance.now() - startedAt));
    }
  }, 50);
  return () => clearInterval(timer);
}

export function setMuted(session, muted) {
  const pc = session.sessionDescriptionHandler && session.sessionDescriptionHandler.peerConnection;
  if (!pc) return;
  pc.getSenders().forEach((s) => { if (s.track) s.track.enabled = !muted; });
}

// "m:ss" since `since` (ms, performance.now()).
export function clock(since) {
  const s = Math.floor((performance.now() - since) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// A short two-tone ring (WebAudio): the widget's incoming-call ring, the softphone's too.
export function ringTone() {
  let ctx = null, timer = null;
  const beep = () => {
    try {
      ctx = ctx || new AudioContext();
      [0, 0.25].forEach((at, i) => {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.frequency.value = i ? 480 : 440;
        gain.gain.value = 0.05;
        osc.connect(gain).connect(ctx.destination);
        osc.start(ctx.currentTime + at);
        osc.stop(ctx.currentTime + at + 0.2);
      });
    } catch (e) { /* no audio device: the panel still shows the ring */ }
  };
  return {
    start() { beep(); timer = setInterval(beep, 2000); },
    stop() { clearInterval(timer); if (ctx) { ctx.close().catch(() => {}); ctx = null; } },
  };
}

// The reason phrase of a refusal, as the page shows it.
export function refusalText(response) {
  const m = response && response.message;
  if (!m) return "The call failed.";
  if (m.statusCode === 486 || m.statusCode === 600) return "The line is busy: try again shortly.";
  return `The call was refused: ${m.reasonPhrase || m.statusCode}`;
}
