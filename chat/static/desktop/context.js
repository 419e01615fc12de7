// Beside the conversation: who the customer is (profile, phone facts, where the chat
// started), the routing requests with their ids, earlier sessions with their
// dispositions, and a search across the customer's whole history.
import { el } from "../common.js";
import { Timeline } from "./timeline.js";

function row(dl, term, value) {
  if (value === undefined || value === null || value === "" || (Array.isArray(value) && !value.length)) return;
  dl.append(el("dt", {}, term));
  const dd = el("dd");
  if (value instanceof Node) dd.append(value); else dd.textContent = String(value);
  dl.append(dd);
}

/** A page address as text plus a link (only http(s): a customer's browser reported it). */
function pageLink(url, title) {
  const box = el("span", { class: "page" });
  if (/^https?:\/\//i.test(url)) {
    box.append(el("a", { href: url, target: "_blank", rel: "noopener noreferrer nofollow" }, title || url));
  } else box.append(el("span", {}, title || url));
  if (title) box.append(el("br"), el("small", { class: "muted" }, url));
  return box;
}

/** "Chrome 126 on Linux" from a user agent string, else the string cut short. */
export function browserName(ua) {
  if (!ua) return "";
  const os = /Windows/.test(ua) ? "Windows" : /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS"
    : /Mac OS X/.test(ua) ? "macOS" : /Linux/.test(ua) ? "Linux" : "";
  const m = /(Edg|Firefox|Chrome|Chromium|Version)\/(\d+)/.exec(ua);
  const names = { Edg: "Edge", Version: "Safari" };
  const browser = m ? `${names[m[1]] || m[1]} ${m[2]}` : ua.slice(0, 60);
  return os ? `${browser} on ${os}` : browser;
}

export class CustomerContext {
  constructor(panel, sessionId) {
    this.box = panel.querySelector(".customer-facts");
    this.histList = panel.querySelector(".history-list");
    this.histView = panel.querySelector(".history-view");
    this.search = panel.querySelector(".history-search");
    this.results = panel.querySelector(".search-results");
    this.sessionId = sessionId;
    this.userId = "";
    this.search.addEventListener("submit", (ev) => { ev.preventDefault(); this.find(); });
  }

  show(view) {
    const c = view.customer || {};
    this.userId = view.user_id;
    const dl = el("dl", { class: "facts" });
    row(dl, "Name", c.name || "not given");
    row(dl, "Customer id", view.user_id);
    row(dl, "Language", c.language);
    const tags = el("span", { class: "tags" });
    if (c.vip) tags.append(el("span", { class: "tag tag-vip" }, `VIP ${c.vip}`));
    for (const t of c.tags || []) tags.append(el("span", { class: "tag" }, t));
    row(dl, "Tags", tags.childElementCount ? tags : "");
    row(dl, "Phone", c.number);
    row(dl, "Called", c.entry);
    const v = c.visit || {};
    if (v.page) row(dl, "Page", pageLink(v.page, v.title));
    row(dl, "Browser", browserName(v.browser));
    row(dl, "Came from", v.referrer);
    const reqs = el("ul", { class: "plain requests" });
    for (const r of c.requests || []) {
      const li = el("li");
      li.append(el("code", { class: "request-id", title: "implus router explain <id> tells why this agent" }, r.id),
        ` ${r.channel} · ${r.state}${r.agent ? ` · ${r.agent}` : ""}`);
      reqs.append(li);
    }
    row(dl, "Requests", reqs.childElementCount ? reqs : "");
    this.box.replaceChildren(dl);
    this.showHistory(view.history || []);
    return c;
  }

  showHistory(history) {
    this.histList.replaceChildren();
    if (!history.length) this.histList.append(el("li", { class: "muted" }, "No earlier sessions."));
    for (const h of history) {
      const b = el("button", { type: "button", class: "btn btn-quiet history-item" });
      b.append(
        el("span", {}, new Date(h.created).toLocaleString([], { dateStyle: "medium", timeStyle: "short" })),
        el("span", { class: "muted" }, ` · ${h.service} · `),
        el("span", { class: `pill pill-${h.disposition ? "closed" : h.state}` }, h.disposition || h.state),
      );
      b.addEventListener("click", () => this.open(h.session_id));
      const li = el("li");
      li.append(b);
      this.histList.append(li);
    }
  }

  async open(sessionId) {
    this.histView.replaceChildren(el("li", { class: "muted" }, "loading…"));
    this.histView.hidden = false;
    let view;
    try {
      const r = await fetch(`/api/sessions/${encodeURIComponent(sessionId)}`);
      view = await r.json();
      if (!r.ok) throw new Error(view.message || `HTTP ${r.status}`);
    } catch (e) {
      this.histView.replaceChildren(el("li", { class: "error" }, `cannot load: ${e.message}`));
      return;
    }
    this.histView.replaceChildren();
    const past = new Timeline(this.histView, sessionId, { onCustomerEntry() {}, onCallChange() {} });
    for (const e of view.entries) past.add(e);
  }

  async find() {
    const q = this.search.querySelector("input").value.trim();
    this.results.replaceChildren();
    if (q.length < 2) { this.results.append(el("li", { class: "muted" }, "Type at least 2 characters.")); return; }
    let hits;
    try {
      const r = await fetch(`/api/customers/${encodeURIComponent(this.userId)}/history?q=${encodeURIComponent(q)}`);
      hits = await r.json();
      if (!r.ok) throw new Error(hits.message || `HTTP ${r.status}`);
    } catch (e) {
      this.results.append(el("li", { class: "error" }, e.message));
      return;
    }
    if (!hits.length) this.results.append(el("li", { class: "muted" }, `Nothing found for "${q}".`));
    for (const h of hits) {
      const b = el("button", { type: "button", class: "btn btn-quiet search-hit" });
      b.append(
        el("span", { class: "muted" }, `${new Date(Number(h.at)).toLocaleDateString()} · ${h.service} · ${h.from || h.type}: `),
        el("span", {}, h.snippet),
      );
      b.addEventListener("click", () => this.open(h.session_id));
      const li = el("li");
      li.append(b);
      this.results.append(li);
    }
  }
}
