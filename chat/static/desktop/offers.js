// Offers: what is offered (channel, service, customer, first message), a countdown
// against the server's clock, Accept / Reject. New ones ring, notify and mark the title.
import { el } from "../common.js";

const CHANNEL_WORDS = { chat: "Chat", voice: "Call", voip: "Web call" };

export class Offers {
  /** list: the <ul>; send(frame); alerts: Alerts; onChange(): counts changed. */
  constructor(list, send, alerts, onChange) {
    this.list = list;
    this.send = send;
    this.alerts = alerts;
    this.onChange = onChange;
    this.offers = new Map(); // offer id -> {li, deadline, frame}
    this.clockSkew = 0;
    this.empty = el("li", { class: "empty" }, "No offers right now.");
    this.list.append(this.empty);
    setInterval(() => this.tick(), 500);
  }

  get count() { return this.offers.size; }

  add(f, { quiet = false } = {}) {
    if (this.offers.has(f.offer_id)) return;
    if (f.now) this.clockSkew = f.now - Date.now();
    const channel = f.channel || "chat";
    const li = el("li", { class: `offer offer-${channel}`, "data-offer": f.offer_id, "data-channel": channel });
    const head = el("div", { class: "offer-head" });
    head.append(
      el("span", { class: `pill pill-${channel}` }, CHANNEL_WORDS[channel] || channel),
      el("span", { class: "offer-service" }, f.service || ""),
      el("span", { class: "countdown", role: "timer", "aria-label": "seconds left" }, ""),
    );
    const who = el("p", { class: "offer-who" });
    who.append(el("strong", {}, f.customer_name || f.user_id || "Customer"));
    if (f.customer_name && f.user_id) who.append(el("span", { class: "muted" }, ` · ${f.user_id}`));
    if (Number(f.vip) > 0) who.append(el("span", { class: "tag tag-vip" }, `VIP ${f.vip}`));
    li.append(head, who);
    const preview = f.preview || (f.callback ? `call back ${f.callback}` : "");
    const p = el("p", { class: "offer-preview" }, preview);
    p.hidden = !preview;
    li.append(p);
    const buttons = el("div", { class: "offer-actions" });
    const accept = el("button", { type: "button", class: "btn btn-primary accept",
      "aria-keyshortcuts": "Alt+A" }, "Accept");
    const reject = el("button", { type: "button", class: "btn btn-quiet reject" }, "Reject");
    accept.addEventListener("click", () => this.accept(f.offer_id));
    reject.addEventListener("click", () => this.send({ type: "reject", offer_id: f.offer_id }));
    buttons.append(accept, reject);
    li.append(buttons);
    this.empty.remove();
    this.list.append(li);
    this.offers.set(f.offer_id, { li, deadline: f.deadline, frame: f });
    this.tick();
    if (!quiet) this.alerts.newOffer(f, () => li.querySelector(".accept").focus());
    this.onChange();
  }

  /** The customer's first message, stored after the offer went out. */
  preview(id, text) {
    const o = this.offers.get(id);
    if (!o || o.frame.preview) return;
    o.frame = { ...o.frame, preview: text };
    const p = o.li.querySelector(".offer-preview");
    p.textContent = text;
    p.hidden = false;
    this.alerts.notifyOffer(o.frame, () => o.li.querySelector(".accept").focus()); // same tag: replaced quietly
  }

  accept(id) {
    const o = this.offers.get(id);
    if (!o) return;
    o.li.querySelector(".accept").disabled = true;
    this.send({ type: "accept", offer_id: id });
  }

  /** Alt+A: the offer that expires first. */
  acceptOldest() {
    const first = [...this.offers.entries()].sort((a, b) => a[1].deadline - b[1].deadline)[0];
    if (first) this.accept(first[0]);
  }

  remove(id) {
    const o = this.offers.get(id);
    if (!o) return;
    o.li.remove();
    this.offers.delete(id);
    if (!this.offers.size) this.list.append(this.empty);
    this.onChange();
  }

  /** A refused accept (taken meanwhile): the button works again until the offer goes. */
  release() {
    for (const o of this.offers.values()) o.li.querySelector(".accept").disabled = false;
  }

  tick() {
    const now = Date.now() + this.clockSkew;
    for (const [id, o] of this.offers) {
      const left = Math.max(0, Math.ceil((o.deadline - now) / 1000));
      o.li.querySelector(".countdown").textContent = o.deadline ? `${left}s` : "";
      o.li.classList.toggle("urgent", Boolean(o.deadline) && left <= 5);
      if (o.deadline && o.deadline < now - 5000) this.remove(id);
    }
  }
}
