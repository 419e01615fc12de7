// Agent desktop: status, offers, several conversations at once. This module wires the
// parts to the websocket; each part lives in its own module. User data reaches the page
// through textContent only (see common.js el()).
import { connect, idAfter } from "../common.js";
import { Outbox } from "../outbox.js";
import { Actions } from "./actions.js";
import { Alerts } from "./alerts.js";
import { Offers } from "./offers.js";
import { Sessions } from "./sessions.js";
import { installShortcuts } from "./shortcuts.js";

const desktop = document.getElementById("desktop");
const agentId = desktop.dataset.agent;
const linkState = document.getElementById("link-state");
const statusNow = document.getElementById("status-now");
const statusSelect = document.getElementById("status-select");
const statusReason = document.getElementById("status-reason");

let link = null;
let agentName = agentId;
function send(frame) { return Boolean(link && link.send(frame)); }
// Replies and notes until acknowledged (resent after reconnects and passing outages).
const outbox = new Outbox(`implus:desktop:${agentId}:outbox`, send);
const alerts = new Alerts();
const actions = new Actions(send);
let offers = null;
const sessions = new Sessions({
  tabs: document.getElementById("session-tabs"),
  work: document.getElementById("sessions"),
  template: document.getElementById("session-template"),
  outbox, send, actions,
  agentName: () => agentName,
  onCounts: () => alerts.setCounts(offers ? offers.count : 0, sessions.unread),
});
offers = new Offers(document.getElementById("offers"), send, alerts,
  () => alerts.setCounts(offers.count, sessions.unread));

// ---- status -------------------------------------------------------------------------------
document.getElementById("status-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  send({ type: "status", status: statusSelect.value, reason: statusReason.value.trim() });
});
statusSelect.addEventListener("change", () => {
  document.getElementById("reason-row").hidden = statusSelect.value !== "away";
});

/** What the router says the agent is: the pill AND the dropdown (they never disagree). */
function showStatus(status, reason) {
  statusNow.textContent = reason ? `${status} (${reason})` : status;
  statusNow.className = `pill pill-${status}`;
  if ([...statusSelect.options].some((o) => o.value === status)) statusSelect.value = status;
  document.getElementById("reason-row").hidden = statusSelect.value !== "away";
}

// ---- alerts settings -------------------------------------------------------------------------
const soundToggle = document.getElementById("sound-toggle");
soundToggle.checked = alerts.prefs.sound;
soundToggle.addEventListener("change", () => {
  alerts.prefs.sound = soundToggle.checked;
  alerts.save();
  if (soundToggle.checked) alerts.chime();
});
const notifyButton = document.getElementById("notify-enable");
function showNotifyState() {
  const state = alerts.notificationsState();
  const words = { granted: "Desktop notifications on", denied: "Notifications blocked in the browser",
    unsupported: "No desktop notifications in this browser", default: "Turn on desktop notifications" };
  notifyButton.textContent = words[state];
  notifyButton.disabled = state !== "default";
}
notifyButton.addEventListener("click", async () => { await alerts.askForNotifications(); showNotifyState(); });
showNotifyState();

// ---- shortcuts ----------------------------------------------------------------------------------
const current = () => sessions.get(sessions.current);
installShortcuts(document.getElementById("shortcuts-dialog"), {
  accept: () => offers.acceptOldest(),
  step: (d) => sessions.step(d),
  nth: (n) => sessions.nth(n),
  toggleNote: () => current()?.composer.toggleNote(),
  transfer: () => current() && actions.openTransfer(current().id),
  end: () => current() && send({ type: "end", session_id: current().id }),
  close: () => current() && actions.openClose(current().id),
});
document.getElementById("shortcuts-open").addEventListener("click", () =>
  document.getElementById("shortcuts-dialog").showModal());

// ---- wire -------------------------------------------------------------------------------------
function onFrame(f) {
  switch (f.type) {
    case "welcome": // "online" only now: the status shown is the router's, not a guess
      linkState.textContent = "online";
      linkState.className = "link-state is-online";
      agentName = f.agent.name || agentId;
      showStatus(f.agent.status, f.agent.reason);
      for (const o of f.offers || []) offers.add(o, { quiet: document.hasFocus() });
      break;
    case "offer": offers.add(f); break;
    case "offer_gone": {
      // a call accepted on the phone (not here): open its session on the desktop too
      const offer = offers.offers.get(f.offer_id)?.frame;
      if (f.reason === "accepted" && offer && offer.session_id && !sessions.get(offer.session_id)) {
        send({ type: "open", session_id: offer.session_id });
      }
      offers.remove(f.offer_id);
      break;
    }
    case "offer_preview": offers.preview(f.offer_id, f.preview); break;
    case "session": offers.release(); sessions.open(f); break;
    case "handed_over": send({ type: "open", session_id: f.session_id }); break; // a transfer to me
    case "entry": {
      if (f.entry.cid) outbox.done(f.entry.cid);
      sessions.get(f.session_id)?.timeline.add(f.entry);
      break;
    }
    case "ack": {
      outbox.done(f.cid);
      sessions.get(f.session_id)?.timeline.stored(f.cid, f.id);
      break;
    }
    case "agent_status":
      if (f.agent === agentId) showStatus(f.status, f.reason);
      break;
    case "typing": sessions.typing(f.session_id, f.on); break;
    case "receipt": {
      const s = sessions.get(f.session_id);
      if (s && f.party === "customer") {
        for (const li of s.timeline.list.querySelectorAll(".entry.agent")) {
          if (li.dataset.id && !idAfter(li.dataset.id, f.id)) li.querySelector(".meta").textContent = "✓✓ seen";
        }
      }
      break;
    }
    case "contact_ended":
      sessions.contact(f.session_id, f.channel || "chat", "ended");
      break;
    case "session_closed": sessions.closed(f.session_id, f.disposition || ""); break;
    case "transferred":
      sessions.contact(f.session_id, "chat", `transferred to ${f.queue || f.agent_id}`);
      break;
    case "call_requested": sessions.alert(f.session_id, `Calling ${f.number}: your phone rings first…`); break;
    case "error": {
      let message = f.message;
      if (f.ref && outbox.has(f.ref)) {
        const retrying = outbox.refused(f.ref, f.code);
        const li = sessions.pendingItem(f.ref);
        if (li) li.querySelector(".meta").textContent = retrying ? "retrying…" : "not sent";
        if (retrying) message = "Not sent yet: the service is busy or unavailable. It is sent again automatically.";
      }
      if (f.code === "refused") offers.release();
      if (!sessions.alert(sessions.current, message)) showLinkNote(message);
      break;
    }
    default: break;
  }
}

function showLinkNote(message) {
  const box = document.getElementById("desk-error");
  box.textContent = message;
  box.hidden = !message;
}

link = connect("/ws/agent", [], {
  onOpen: () => {
    linkState.textContent = "connecting…";
    link.send({ type: "hello" });
    outbox.resendAll(); // the same cids: whatever was stored already is acked as a duplicate
  },
  onClose: () => { linkState.textContent = "reconnecting…"; linkState.className = "link-state is-offline"; },
  onFrame,
});
// The heartbeat keeps the router's desktop presence lease alive.
setInterval(() => send({ type: "heartbeat" }), 10000);
