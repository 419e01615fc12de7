// The composer of one session: reply or internal note (a note is one message: the mode
// falls back to "reply" after every note or file sent as note), files, and canned replies
// picked by typing "/" and a shortcut.
import { el, csrf, newCid } from "../common.js";

let cannedCache = null;

/** Every canned reply (fetched once per page; admins manage them over the admin API). */
export async function cannedReplies() {
  if (!cannedCache) {
    cannedCache = fetch("/api/canned-replies").then((r) => (r.ok ? r.json() : [])).catch(() => []);
  }
  return cannedCache;
}

export function fillIn(text, names) {
  return text.replaceAll("{customer}", names.customer || "").replaceAll("{agent}", names.agent || "");
}

export class Composer {
  /** panel: the session's article; post(frame) queues a reply/note; names(): for fill-ins. */
  constructor(panel, sessionId, { post, send, names, showError }) {
    this.form = panel.querySelector(".composer");
    this.text = panel.querySelector(".reply-text");
    this.modes = [...panel.querySelectorAll(".mode input")];
    this.fileInput = panel.querySelector(".file-input");
    this.picker = panel.querySelector(".canned-picker");
    this.sessionId = sessionId;
    this.post = post;
    this.send = send;
    this.names = names;
    this.showError = showError;
    this.choices = [];
    this.active = 0;
    this.lastTyping = 0;
    this.wire();
  }

  get isNote() { return this.modes.some((m) => m.checked && m.value === "note"); }

  setMode(mode) {
    for (const m of this.modes) m.checked = m.value === mode;
    this.form.classList.toggle("note-mode", mode === "note");
    this.text.placeholder = mode === "note"
      ? "Internal note: only agents see it"
      : "Reply to the customer (type / for canned replies)";
  }

  toggleNote() { this.setMode(this.isNote ? "reply" : "note"); this.text.focus(); }

  queue(extra) {
    const type = this.isNote ? "note" : "reply";
    const frame = { type, session_id: this.sessionId, cid: newCid(), text: extra.text || "" };
    if (extra.file) frame.file = { sha256: extra.file.sha256 };
    this.post(frame, extra.file || null);
    if (type === "note") this.setMode("reply"); // a note is one message, never a mode to forget
  }

  wire() {
    this.setMode("reply");
    for (const m of this.modes) m.addEventListener("change", () => this.setMode(m.value));
    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const t = this.text.value.trim();
      if (!t) return;
      this.text.value = "";
      this.closePicker();
      this.queue({ text: t });
    });
    this.text.addEventListener("keydown", (ev) => this.onKey(ev));
    this.text.addEventListener("input", () => {
      this.updatePicker();
      if (Date.now() - this.lastTyping > 2000 && !this.isNote) {
        this.lastTyping = Date.now();
        this.send({ type: "typing", session_id: this.sessionId, on: true });
      }
    });
    this.text.addEventListener("blur", () => setTimeout(() => this.closePicker(), 150));
    this.fileInput.addEventListener("change", () => this.upload());
  }

  onKey(ev) {
    if (!this.picker.hidden) {
      if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        ev.preventDefault();
        this.active = (this.active + (ev.key === "ArrowDown" ? 1 : -1) + this.choices.length) % this.choices.length;
        this.drawPicker();
        return;
      }
      if (ev.key === "Enter" || ev.key === "Tab") { ev.preventDefault(); this.choose(this.choices[this.active]); return; }
      if (ev.key === "Escape") { ev.preventDefault(); this.closePicker(); return; }
    }
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); this.form.requestSubmit(); }
  }

  async updatePicker() {
    const m = /^\/([\w-]*)$/.exec(this.text.value);
    if (!m) { this.closePicker(); return; }
    const q = m[1].toLowerCase();
    const all = await cannedReplies();
    this.choices = all.filter((r) => r.shortcut.startsWith(q) || r.title.toLowerCase().includes(q)).slice(0, 8);
    this.active = 0;
    this.drawPicker(all.length === 0);
  }

  drawPicker(noneAtAll = false) {
    this.picker.replaceChildren();
    if (!this.choices.length) {
      this.picker.append(el("li", { class: "muted", role: "option", "aria-disabled": "true" },
        noneAtAll ? "No canned replies yet: an admin adds them (PUT /api/canned-replies/…)" : "No canned reply matches"));
    }
    this.choices.forEach((r, i) => {
      const li = el("li", { role: "option", id: `canned-${this.sessionId}-${i}`, "aria-selected": String(i === this.active), class: "canned-choice" });
      li.append(el("code", {}, `/${r.shortcut}`), el("strong", {}, r.title), el("span", { class: "muted" }, r.text.slice(0, 80)));
      li.addEventListener("mousedown", (ev) => { ev.preventDefault(); this.choose(r); });
      this.picker.append(li);
    });
    this.picker.hidden = false;
    if (this.choices.length) this.text.setAttribute("aria-activedescendant", `canned-${this.sessionId}-${this.active}`);
  }

  choose(reply) {
    if (!reply) return;
    this.text.value = fillIn(reply.text, this.names());
    this.closePicker();
    this.text.focus();
  }

  closePicker() {
    this.picker.hidden = true;
    this.text.removeAttribute("aria-activedescendant");
  }

  async upload() {
    const file = this.fileInput.files[0];
    if (!file) return;
    const data = new FormData();
    data.append("file", file, file.name);
    let r;
    let body = {};
    try {
      r = await fetch(`/api/sessions/${encodeURIComponent(this.sessionId)}/files`, {
        method: "POST", body: data, headers: { "X-CSRF-Token": csrf() },
      });
      body = await r.json().catch(() => ({}));
    } catch {
      this.showError("Upload failed: check the connection and try again.");
      return;
    } finally {
      this.fileInput.value = "";
    }
    if (!r.ok) { this.showError(body.message || `upload refused (HTTP ${r.status})`); return; }
    this.queue({ file: body });
  }
}
