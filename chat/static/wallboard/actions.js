// What a supervisor does from the board: force an agent away (with a reason) or log them
// out, and move a waiting contact to another queue or agent. One <dialog> for both; the
// server's answer (or its error message) is shown in it.
import { csrf, el } from "../common.js";

let context = { queues: () => [], agents: () => [], done: () => {} };

/** Where the dialogs get their choices and what they call after a success. */
export function setActionContext(ctx) { context = { ...context, ...ctx }; }

async function post(path, body) {
  const r = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf(), Accept: "application/json" },
    body: JSON.stringify(body),
  });
  let answer = {};
  try { answer = await r.json(); } catch { /* a proxy's HTML page */ }
  if (!r.ok) throw new Error(answer.message || `the server answered ${r.status}`);
  return answer;
}

function field(label, control) {
  const wrap = el("label", { class: "wb-field" }, label);
  wrap.append(" ", control);
  return wrap;
}

/** Open the dialog; `submit()` returns a promise of the success message. */
function openDialog(title, fields, okText, submit) {
  const dialog = document.getElementById("wb-dialog");
  const form = document.getElementById("wb-dialog-form");
  const error = document.getElementById("wb-dialog-error");
  const ok = document.getElementById("wb-dialog-ok");
  document.getElementById("wb-dialog-h").textContent = title;
  document.getElementById("wb-dialog-fields").replaceChildren(...fields);
  ok.textContent = okText;
  ok.disabled = false;
  error.textContent = "";
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    ok.disabled = true;
    error.textContent = "";
    try {
      const message = await submit();
      dialog.close();
      context.done(message);
    } catch (e) {
      error.textContent = e.message;
      ok.disabled = false;
    }
  };
  document.getElementById("wb-dialog-cancel").onclick = () => dialog.close();
  dialog.showModal();
  const first = fields.map((f) => f.querySelector("input, select")).find(Boolean);
  if (first) first.focus();
}

/** Set agent `a` away (reason required) or offline (optionally ending their login). */
export function askForceStatus(a, status) {
  const who = a.name ? `${a.name} (${a.id})` : a.id;
  const reason = el("input", { id: "wb-reason", name: "reason", maxlength: "200", autocomplete: "off" });
  if (status === "away") {
    reason.required = true;
    openDialog(`Set ${who} away`, [field("Reason (the agent sees it)", reason)], "Set away", async () => {
      await post(`/api/agents/${encodeURIComponent(a.id)}/status`, { status: "away", reason: reason.value });
      return `${a.id} is set away (${reason.value}).`;
    });
    return;
  }
  const signOut = el("input", { type: "checkbox", id: "wb-sign-out", name: "sign_out" });
  const box = el("label", { class: "wb-field" });
  box.append(signOut, " Also end their desktop login (they must log in again)");
  openDialog(`Log ${who} out`, [field("Reason (optional)", reason), box], "Log out", async () => {
    const answer = await post(`/api/agents/${encodeURIComponent(a.id)}/status`,
      { status: "offline", reason: reason.value, sign_out: signOut.checked });
    return `${a.id} is logged out${answer.signed_out ? " and their desktop login ended" : ""}.`;
  });
}

/** Move waiting contact `c` (a drill-down row) to another queue or to an agent. */
export function askMove(c, fromQueue) {
  const where = el("select", { id: "wb-move-target", name: "target", required: "" });
  const queues = el("optgroup", { label: "Queue" });
  for (const q of context.queues()) {
    if (q === fromQueue) continue;
    queues.append(el("option", { value: `queue:${q}` }, q));
  }
  const agents = el("optgroup", { label: "Agent (logged in)" });
  for (const a of context.agents()) {
    if (a.activity === "offline") continue;
    agents.append(el("option", { value: `agent:${a.id}` }, `${a.name || a.id} – ${a.activity}`));
  }
  where.append(queues, agents);
  openDialog(`Move ${c.customer}'s ${c.channel} contact`, [field("To", where)], "Move", async () => {
    const [kind, id] = [where.value.slice(0, where.value.indexOf(":")), where.value.slice(where.value.indexOf(":") + 1)];
    if (!id) throw new Error("pick a queue or an agent");
    const body = kind === "queue" ? { queue: id } : { agent_id: id };
    await post(`/api/requests/${encodeURIComponent(c.request)}/move`, body);
    return `${c.customer}'s contact moved to ${id}.`;
  });
}
