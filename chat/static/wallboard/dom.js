// Keyed table rows updated in place: a push every fraction of a second must not replace
// the row a supervisor is about to click (or move keyboard focus).
import { el } from "../common.js";
import { duration } from "./format.js";

/** Make `parent`'s children exactly `items` in order, reusing rows by `key(item)`. */
export function syncRows(parent, items, key, build, update) {
  const old = new Map([...parent.children].map((node) => [node.dataset.key, node]));
  items.forEach((item, i) => {
    const k = key(item);
    let node = old.get(k);
    old.delete(k);
    if (!node) {
      node = build(item);
      node.dataset.key = k;
    }
    update(node, item);
    if (parent.children[i] !== node) parent.insertBefore(node, parent.children[i] || null);
  });
  for (const node of old.values()) node.remove();
}

/** Set a node's text only when it changed (no needless layout or screen-reader noise). */
export function setText(node, text) {
  const t = String(text);
  if (node.textContent !== t) node.textContent = t;
}

/** A row of `n` empty cells; `nums` are the indexes of right-aligned number cells. */
export function emptyRow(n, nums = []) {
  const tr = el("tr");
  for (let i = 0; i < n; i++) tr.append(el("td", nums.includes(i) ? { class: "num" } : {}));
  return tr;
}

/** A cell that counts time on: since (ms, up), until (ms, down) or base seconds at a time. */
export function clockCell(td, { since = null, until = null, base = null, at = null, late = null }) {
  td.dataset.since = since ?? "";
  td.dataset.until = until ?? "";
  td.dataset.base = base ?? "";
  td.dataset.at = at ?? "";
  td.dataset.late = late ?? "";
}

/** Update every clock cell under `root` to the server's `now` (ms). */
export function tick(root, now) {
  for (const td of root.querySelectorAll("[data-since], [data-until], [data-base]")) {
    const { since, until, base, at, late } = td.dataset;
    let seconds = null;
    if (since) seconds = (now - Number(since)) / 1000;
    else if (until) seconds = (Number(until) - now) / 1000;
    else if (base !== "") seconds = Number(base) + (at ? (now - Number(at)) / 1000 : 0);
    setText(td, seconds === null ? "–" : (until ? `${duration(seconds)} left` : duration(seconds)));
    td.classList.toggle("wb-late", late !== "" && seconds !== null && seconds >= Number(late));
  }
}
