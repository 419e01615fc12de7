// Keyboard shortcuts of the desktop. Alt combinations work while typing; "?" opens the
// list when no text field has the focus. The list in the dialog is built from KEYS, so
// what is shown is what works.

export const KEYS = [
  { keys: "Alt+A", what: "Accept the offer that expires first" },
  { keys: "Alt+↓ / Alt+↑", what: "Next / previous conversation" },
  { keys: "Alt+1 … Alt+9", what: "Go to conversation 1 … 9" },
  { keys: "Alt+N", what: "Switch between reply and internal note" },
  { keys: "Alt+T", what: "Transfer the conversation" },
  { keys: "Alt+E", what: "End the chat (the session stays open)" },
  { keys: "Alt+W", what: "Close the session (with a disposition)" },
  { keys: "/", what: "In the reply box: canned replies (↑ ↓ to choose, Enter to insert)" },
  { keys: "Enter / Shift+Enter", what: "Send / new line" },
  { keys: "?", what: "This list" },
  { keys: "Esc", what: "Close a dialog or the canned replies" },
];

function typingInField(target) {
  return target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT" || target.isContentEditable);
}

/** Install the shortcuts. `act` maps action names to functions. */
export function installShortcuts(dialog, act) {
  const list = dialog.querySelector(".shortcut-list");
  for (const k of KEYS) {
    const dt = document.createElement("dt");
    dt.append(document.createElement("kbd"));
    dt.firstChild.textContent = k.keys;
    const dd = document.createElement("dd");
    dd.textContent = k.what;
    list.append(dt, dd);
  }
  dialog.querySelector(".cancel").addEventListener("click", () => dialog.close());
  document.addEventListener("keydown", (ev) => {
    if (document.querySelector("dialog[open]")) return; // the dialog has the keys
    if (ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      const k = ev.key.toLowerCase();
      const code = ev.code || "";
      let done = true;
      if (k === "a" || code === "KeyA") act.accept();
      else if (k === "arrowdown") act.step(1);
      else if (k === "arrowup") act.step(-1);
      else if (/^Digit[1-9]$/.test(code)) act.nth(Number(code.slice(5)) - 1);
      else if (k === "n" || code === "KeyN") act.toggleNote();
      else if (k === "t" || code === "KeyT") act.transfer();
      else if (k === "e" || code === "KeyE") act.end();
      else if (k === "w" || code === "KeyW") act.close();
      else done = false;
      if (done) ev.preventDefault();
      return;
    }
    if (ev.key === "?" && !typingInField(ev.target)) {
      ev.preventDefault();
      dialog.showModal();
    }
  });
}
