// Small helpers shared by the desktop and supervisor pages. Text goes in via textContent.

export function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export function csrf() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

export function newCid() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

export function idAfter(a, b) {
  const [am, as] = a.split("-").map(Number);
  const [bm, bs] = b.split("-").map(Number);
  return am > bm || (am === bm && as > bs);
}

export function fmtDuration(seconds) {
  if (!Number.isFinite(seconds)) return "";
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return m ? `${m}m ${s}s` : `${s}s`;
}

/** Fetch a session file with the page's credentials and show it (image) or link it. */
export async function fetchFileInto(url, file, into, headers) {
  try {
    const r = await fetch(url, { headers });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const blobUrl = URL.createObjectURL(await r.blob());
    if (/^image\/(png|jpeg|gif|webp)$/.test(file.mime)) {
      const img = el("img", { alt: file.name, class: "image" });
      img.src = blobUrl;
      into.append(img);
      await img.decode().catch(() => {}); // resolve once it has its height (scrolling)
    } else {
      const a = el("a", { download: file.name, class: "attachment" }, `📎 ${file.name}`);
      a.setAttribute("aria-label", `Download ${file.name}`);
      a.href = blobUrl;
      into.append(a);
    }
  } catch {
    into.append(el("span", { class: "muted" }, "(file unavailable)"));
  }
}

/** Close code of a staff websocket whose login session was revoked or expired. */
export const SESSION_ENDED = 4401;

/** Put a timeline item where transcript entry `id` belongs: the transcript's (Redis
 * stream's) order is the one order every view shows. Items without an id (messages not
 * acknowledged yet) stay below all stored entries. */
export function placeById(list, li, id) {
  let before = null;
  for (let node = list.lastElementChild; node; node = node.previousElementSibling) {
    if (node === li) continue;
    const nodeId = node.dataset.id;
    if (nodeId && !idAfter(nodeId, id)) break;
    before = node;
  }
  list.insertBefore(li, before);
}

/** A staff page's websocket that reconnects with jittered backoff (see outbox.js for
 * resending); when the page's login session is over, the page goes to the login page. */
export function connect(path, protocols, { onOpen, onClose, onFrame }) {
  const url = `${location.origin.replace(/^http/, "ws")}${path}`;
  let ws = null;
  let backoff = 500;
  const api = {
    send(frame) {
      if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(frame)); return true; }
      return false;
    },
  };
  function open() {
    ws = new WebSocket(url, protocols);
    ws.onopen = () => {
      backoff = 500;
      onOpen();
    };
    ws.onmessage = (ev) => {
      let f;
      try { f = JSON.parse(ev.data); } catch { return; }
      onFrame(f);
    };
    ws.onclose = (ev) => {
      if (ev.code === SESSION_ENDED) { toLogin(); return; } // reconnecting cannot help
      onClose();
      // jitter spreads the reconnect storm after a server restart
      const delay = backoff / 2 + Math.random() * backoff;
      backoff = Math.min(backoff * 2, 10000);
      // The SESSION_ENDED frame may never arrive (the link dropped first, or the login was
      // revoked while the service was away), and a refused reconnect reads as code 1006
      // here: ask whether the login still lives before trying again.
      loginEnded().then((ended) => (ended ? toLogin() : setTimeout(open, delay)));
    };
  }
  open();
  return api;
}

function toLogin() {
  location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
}

/** True when the service answers that this page's login session is over (401); false
 * while it cannot be asked (the service is away: keep reconnecting). */
async function loginEnded() {
  try {
    const res = await fetch("/api/me", { credentials: "same-origin", cache: "no-store" });
    return res.status === 401;
  } catch {
    return false;
  }
}
