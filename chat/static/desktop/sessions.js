// The conversations an agent holds: one tab (with its unread count) and one panel each -
// timeline, composer, customer context and actions. The header says what is live per
// channel ("Chat active · Call ended"), never just the last thing that happened.
import { el } from "../common.js";
import { attachCallControls } from "../callcontrol.js";
import { Composer } from "./composer.js";
import { CustomerContext } from "./context.js";
import { Timeline } from "./timeline.js";

const CONTACT_WORDS = { chat: "Chat", voice: "Call", voip: "Web call" };

export class Sessions {
  constructor({ tabs, work, template, outbox, send, actions, agentName, onCounts }) {
    Object.assign(this, { tabs, work, template, outbox, send, actions, agentName, onCounts });
    this.map = new Map(); // session id -> state
    this.current = "";
    this.emptyTab = document.getElementById("tabs-empty");
    document.addEventListener("visibilitychange", () => { if (!document.hidden) this.markRead(this.current); });
  }

  get unread() { return [...this.map.values()].reduce((n, s) => n + s.unread, 0); }

  get(id) { return this.map.get(id); }

  /** A `session` frame: open (or refresh) the panel with the whole timeline. */
  open(view) {
    let s = this.map.get(view.session_id);
    if (!s) s = this.create(view);
    s.state = view.state;
    const customer = s.context.show(view);
    s.customerName = customer.name || "";
    s.title.textContent = `${s.customerName || view.user_id} · ${view.service}`;
    this.label(s, view);
    // What is live per channel, from the session's routing requests (the newest per channel)
    for (const r of customer.requests || []) {
      const channel = r.channel === "voice" && r.call_id === "" ? "voice" : r.channel;
      s.contacts[channel] = { accepted: "active", queued: "waiting", offered: "waiting" }[r.state] || "ended";
    }
    for (const e of view.entries || []) s.timeline.add(e);
    for (const f of this.outbox.forSession(view.session_id)) {
      if (!s.timeline.pending.has(f.cid)) s.timeline.showPending(f, this.agentName());
    }
    this.headline(s);
    this.select(view.session_id);
  }

  create(view) {
    const id = view.session_id;
    const panel = this.template.content.firstElementChild.cloneNode(true);
    panel.id = `session-${id}`;
    panel.dataset.session = id;
    panel.setAttribute("aria-labelledby", `tab-${id}`);
    for (const b of panel.querySelectorAll("[data-help]")) { // ids must be unique per panel
      const help = panel.querySelector(`.${b.dataset.help}`);
      help.id = `${b.dataset.help}-${id}`;
      b.setAttribute("aria-describedby", help.id);
    }
    const picker = panel.querySelector(".canned-picker");
    picker.id = `canned-${id}`;
    panel.querySelector(".reply-text").setAttribute("aria-controls", picker.id);
    const s = {
      id, panel, unread: 0, customerName: "", contacts: {},
      title: panel.querySelector(".session-title"),
      chips: panel.querySelector(".contacts"),
    };
    s.timeline = new Timeline(panel.querySelector(".timeline"), id, {
      onCustomerEntry: (e) => this.customerWrote(s, e),
      onCallChange: (call) => this.callChanged(s, call),
    });
    s.context = new CustomerContext(panel, id);
    s.composer = new Composer(panel, id, {
      post: (frame, file) => { s.timeline.showPending(frame, this.agentName(), file); this.outbox.add(frame); },
      send: this.send,
      names: () => ({ customer: s.customerName || "", agent: this.agentName() }),
      showError: (m) => this.alert(id, m),
    });
    this.actions.wire(panel, id);
    attachCallControls(panel, id); // hold, mute, transfer, consult, hang up (callcontrol.js)
    this.map.set(id, s);
    this.work.querySelector(".work-empty")?.remove();
    this.work.append(panel);
    const tab = el("button", { type: "button", role: "tab", id: `tab-${id}`, class: "tab",
      "data-session": id, "aria-controls": panel.id });
    tab.append(el("span", { class: "tab-label" }), el("span", { class: "badge", hidden: "" }, ""));
    tab.addEventListener("click", () => this.select(id));
    s.tab = tab;
    this.emptyTab.hidden = true;
    this.tabs.append(tab);
    return s;
  }

  label(s, view) {
    s.tab.querySelector(".tab-label").textContent = `${s.customerName || view.user_id} · ${view.service}`;
  }

  select(id) {
    if (!this.map.has(id)) return;
    this.current = id;
    for (const [sid, s] of this.map) {
      s.panel.hidden = sid !== id;
      s.tab.setAttribute("aria-selected", String(sid === id));
      s.tab.tabIndex = sid === id ? 0 : -1;
    }
    this.markRead(id);
  }

  /** Alt+ArrowDown / Alt+ArrowUp and Alt+1..9. */
  step(delta) {
    const ids = [...this.map.keys()];
    if (!ids.length) return;
    const i = Math.max(0, ids.indexOf(this.current));
    this.select(ids[(i + delta + ids.length) % ids.length]);
  }

  nth(n) { const id = [...this.map.keys()][n]; if (id) this.select(id); }

  customerWrote(s, e) {
    if (s.id !== this.current || document.hidden) {
      s.unread += 1;
      this.badge(s);
    } else {
      this.send({ type: "seen", session_id: s.id, id: e.id });
    }
  }

  markRead(id) {
    const s = this.map.get(id);
    if (!s || document.hidden) return;
    const last = [...s.timeline.list.querySelectorAll(".entry.customer[data-id]")].pop();
    if (s.unread && last) this.send({ type: "seen", session_id: id, id: last.dataset.id });
    s.unread = 0;
    this.badge(s);
  }

  badge(s) {
    const b = s.tab.querySelector(".badge");
    b.hidden = !s.unread;
    b.textContent = s.unread ? String(s.unread) : "";
    b.setAttribute("aria-label", `${s.unread} unread`);
    this.onCounts();
  }

  callChanged(s, call) {
    const channel = call.direction === "outbound" && !call.callback ? "voip" : "voice";
    s.contacts[channel] = call.state === "ended" ? "ended" : call.state;
    s.liveCall = call.state === "ended" ? null : call;
    this.headline(s);
  }

  /** Per channel: chat active, call connected... (a call ending leaves the chat going). */
  contact(id, channel, state) {
    const s = this.map.get(id);
    if (!s) return;
    const now = s.contacts[channel || "chat"] || "";
    if (state === "ended" && now.startsWith("transferred")) return; // the end of a transfer
    s.contacts[channel || "chat"] = state;
    this.headline(s);
  }

  headline(s) {
    s.chips.replaceChildren();
    if (s.state === "closed") {
      s.chips.append(el("span", { class: "pill pill-closed" }, s.disposition ? `Closed: ${s.disposition}` : "Closed"));
      return;
    }
    for (const [channel, state] of Object.entries(s.contacts)) {
      s.chips.append(el("span", { class: `pill pill-${state}` }, `${CONTACT_WORDS[channel] || channel} ${state}`));
    }
  }

  closed(id, disposition) {
    const s = this.map.get(id);
    if (!s) return;
    s.state = "closed";
    s.disposition = disposition;
    this.headline(s);
    s.panel.classList.add("is-closed");
  }

  typing(id, on) {
    const s = this.map.get(id);
    if (!s) return;
    const t = s.panel.querySelector(".typing");
    t.textContent = on ? "customer is typing…" : "";
    clearTimeout(s.typingTimer);
    s.typingTimer = setTimeout(() => { t.textContent = ""; }, 6000);
  }

  alert(id, message) {
    const s = this.map.get(id);
    if (!s) return false;
    const box = s.panel.querySelector(".panel-error");
    box.textContent = message;
    box.hidden = !message;
    clearTimeout(s.alertTimer);
    if (message) s.alertTimer = setTimeout(() => { box.hidden = true; }, 12000);
    return true;
  }

  pendingItem(cid) {
    for (const s of this.map.values()) if (s.timeline.pending.has(cid)) return s.timeline.pending.get(cid);
    return null;
  }
}
