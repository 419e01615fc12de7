// What an agent does to a conversation besides writing: hand it on (a picker of queues
// and available agents, never free text), end the chat (the session stays open), close
// the session with a disposition, call the customer. One dialog of each kind per page.
import { el } from "../common.js";

async function targets() {
  const r = await fetch("/api/transfer-targets");
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.message || `HTTP ${r.status}`);
  return body;
}

export class Actions {
  constructor(send) {
    this.send = send;
    this.transferDialog = document.getElementById("transfer-dialog");
    this.closeDialog = document.getElementById("close-dialog");
    this.sessionId = "";
    this.transferDialog.querySelector("form").addEventListener("submit", (ev) => this.transfer(ev));
    this.closeDialog.querySelector("form").addEventListener("submit", (ev) => this.close(ev));
    for (const d of [this.transferDialog, this.closeDialog]) {
      d.querySelector(".cancel").addEventListener("click", () => d.close());
    }
  }

  /** Wire the action bar of one session panel. */
  wire(panel, sessionId) {
    panel.querySelector(".open-transfer").addEventListener("click", () => this.openTransfer(sessionId));
    panel.querySelector(".end-chat").addEventListener("click", () => this.send({ type: "end", session_id: sessionId }));
    panel.querySelector(".open-close").addEventListener("click", () => this.openClose(sessionId));
    panel.querySelector(".call").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const number = panel.querySelector(".call-number").value.trim();
      if (number) this.send({ type: "call", session_id: sessionId, number });
    });
  }

  async openTransfer(sessionId) {
    this.sessionId = sessionId;
    const d = this.transferDialog;
    const list = d.querySelector(".targets");
    const status = d.querySelector(".dialog-status");
    list.replaceChildren();
    status.textContent = "loading…";
    d.showModal();
    let t;
    try { t = await targets(); } catch (e) { status.textContent = `Cannot load the targets: ${e.message}`; return; }
    status.textContent = t.agents.length ? "" : "No other agent is available for a chat right now: choose a queue.";
    const group = (title, items) => {
      if (!items.length) return;
      const fs = el("fieldset", { class: "choice-group" });
      fs.append(el("legend", {}, title));
      for (const it of items) {
        const label = el("label", { class: "choice" });
        const input = el("input", { type: "radio", name: "target", value: it.value });
        label.append(input, el("span", {}, it.text));
        if (it.hint) label.append(el("span", { class: "muted" }, it.hint));
        fs.append(label);
      }
      list.append(fs);
    };
    group("Queues", t.queues.map((q) => ({ value: `queue:${q}`, text: q })));
    group("Available agents", t.agents.map((a) => ({
      value: `agent:${a.id}`, text: a.name || a.id, hint: ` ${a.id} · ${a.free_chats} free chat slot${a.free_chats === 1 ? "" : "s"}`,
    })));
    const first = list.querySelector("input");
    if (first) { first.checked = true; first.focus(); }
  }

  transfer(ev) {
    ev.preventDefault();
    const picked = this.transferDialog.querySelector("input[name=target]:checked");
    if (!picked) return;
    const [kind, ...rest] = picked.value.split(":");
    const target = rest.join(":");
    this.send({ type: "transfer", session_id: this.sessionId, ...(kind === "queue" ? { queue: target } : { agent_id: target }) });
    this.transferDialog.close();
  }

  openClose(sessionId) {
    this.sessionId = sessionId;
    this.closeDialog.showModal();
    this.closeDialog.querySelector("select").focus();
  }

  close(ev) {
    ev.preventDefault();
    const disposition = this.closeDialog.querySelector("select").value;
    this.send({ type: "close", session_id: this.sessionId, disposition });
    this.closeDialog.close();
  }
}
