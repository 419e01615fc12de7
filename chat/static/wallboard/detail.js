// A queue's drill-down: the contacts waiting in it (oldest first) and ringing, and the
// agents who serve it, with the actions on each. Refreshed while open when the board moves.
import { el } from "../common.js";
import { askMove, setActionContext } from "./actions.js";
import { agentRow, updateAgent } from "./agents.js";
import { clockCell, emptyRow, setText, syncRows, tick } from "./dom.js";

const MIN_GAP_MS = 500;

export class Detail {
  constructor(root, state, rerender) {
    this.root = root;
    this.state = state;
    this.section = root.querySelector("#wb-detail");
    this.status = root.querySelector("#wb-detail-status");
    this.current = null; // [queue, channel]
    this.data = null;
    this.loading = false;
    this.last = 0;
    root.querySelector("#wb-detail-close").addEventListener("click", () => this.close());
    setActionContext({
      queues: () => [...new Set(state.board ? state.board.queues.map((q) => q.queue) : [])].sort(),
      agents: () => (state.board ? state.board.agents : []),
      done: (message) => { this.say(message); this.refresh(true); rerender(); },
    });
  }

  open(queue, channel) {
    this.current = [queue, channel];
    this.data = null;
    this.section.hidden = false;
    setText(this.root.querySelector("#wb-detail-h"), `${queue} · ${channel}`);
    this.say("Loading…");
    this.refresh(true);
    this.section.scrollIntoView({ block: "nearest" });
  }

  close() {
    this.current = null;
    this.data = null;
    this.section.hidden = true;
  }

  say(text) { setText(this.status, text); }

  async refresh(now = false) {
    if (!this.current || this.loading) return;
    if (!now && Date.now() - this.last < MIN_GAP_MS) {
      clearTimeout(this.later);
      this.later = setTimeout(() => this.refresh(), MIN_GAP_MS);
      return;
    }
    const [queue, channel] = this.current;
    this.loading = true;
    this.last = Date.now();
    try {
      const r = await fetch(`/api/wallboard/queues/${encodeURIComponent(queue)}/${encodeURIComponent(channel)}`,
        { headers: { Accept: "application/json" } });
      const body = await r.json();
      if (!r.ok) throw new Error(body.message || `the server answered ${r.status}`);
      if (this.current && this.current[0] === queue && this.current[1] === channel) {
        this.data = body;
        this.render();
        if (this.status.textContent === "Loading…") this.say("");
      }
    } catch (e) {
      this.say(`Could not load the queue: ${e.message}`);
    } finally {
      this.loading = false;
    }
  }

  render() {
    const d = this.data;
    const contacts = this.root.querySelector("#wb-contacts tbody");
    const items = d.contacts.length ? d.contacts : [{ none: true }];
    syncRows(contacts, items, (c) => (c.none ? "none" : c.request), (c) => contactRow(c, d.queue),
      (tr, c) => (c.none ? null : updateContact(tr, c)));
    const agents = this.root.querySelector("#wb-queue-agents tbody");
    syncRows(agents, d.agents, (a) => a.id, agentRow, updateAgent);
    tick(this.section, this.state.serverNow());
  }
}

function contactRow(c, queue) {
  if (c.none) {
    const tr = el("tr");
    tr.append(el("td", { colspan: "7" }, "Nobody is waiting in this queue."));
    return tr;
  }
  const tr = emptyRow(7, [2, 5]);
  tr.dataset.request = c.request;
  const move = el("button", { type: "button", class: "btn btn-small wb-move" }, "Move…");
  move.addEventListener("click", () => askMove(tr.contact, queue));
  tr.children[6].append(move);
  return tr;
}

function updateContact(tr, c) {
  tr.contact = c;
  const td = tr.children;
  setText(td[0], c.customer);
  setText(td[1], c.service);
  clockCell(td[2], { since: c.created });
  setText(td[3], c.state === "ringing" ? `ringing ${c.ringing}` : c.moved ? "waiting (moved)" : "waiting");
  setText(td[4], c.waiting_for || "");
  setText(td[5], c.priority);
  td[6].querySelector("button").setAttribute("aria-label", `Move ${c.customer}'s contact`);
}
