// The desktop's outbox: every reply and note stays here until the server's ack names the
// transcript entry it became. It is sent again - with the same client message id (cid),
// so the router stores it once whatever happens - after every reconnect, and a few
// seconds after the server answered "unavailable" (Redis down) or "rate_limited", with
// growing, jittered delays. Kept in sessionStorage, so reloading the tab loses nothing
// that was not acknowledged yet (the widget keeps its own in localStorage).

const RETRY_CODES = new Set(["unavailable", "rate_limited"]);
const FIRST_DELAY_MS = 2000;
const MAX_DELAY_MS = 15000;

export class Outbox {
  /** key: where to keep it; send(frame): true when the frame went out on the socket. */
  constructor(key, send) {
    this.key = key;
    this.send = send;
    this.frames = new Map(); // cid -> frame
    this.timers = new Map(); // cid -> retry timer
    this.delays = new Map(); // cid -> next retry delay
    for (const { cid, frame } of this.load()) this.frames.set(cid, frame);
  }

  load() {
    try { return JSON.parse(sessionStorage.getItem(this.key) || "[]"); } catch { return []; }
  }

  save() {
    const items = [...this.frames].map(([cid, frame]) => ({ cid, frame }));
    try { sessionStorage.setItem(this.key, JSON.stringify(items)); } catch { /* memory only */ }
  }

  /** Keep the frame until it is acknowledged, and send it now if the link is up. */
  add(frame) {
    this.frames.set(frame.cid, frame);
    this.save();
    this.send(frame);
  }

  has(cid) { return this.frames.has(cid); }

  forSession(sessionId) {
    return [...this.frames.values()].filter((f) => f.session_id === sessionId);
  }

  /** Stored (an ack, or the entry seen in the transcript): forget it. */
  done(cid) {
    clearTimeout(this.timers.get(cid));
    this.timers.delete(cid);
    this.delays.delete(cid);
    if (this.frames.delete(cid)) this.save();
  }

  /** The server refused the frame. Returns true when it will be sent again (a passing
   * outage), false when it was dropped (the server will never take it as it is). */
  refused(cid, code) {
    if (!this.frames.has(cid)) return false;
    if (!RETRY_CODES.has(code)) { this.done(cid); return false; }
    const delay = this.delays.get(cid) || FIRST_DELAY_MS;
    this.delays.set(cid, Math.min(delay * 2, MAX_DELAY_MS));
    clearTimeout(this.timers.get(cid));
    this.timers.set(cid, setTimeout(() => {
      this.timers.delete(cid);
      const frame = this.frames.get(cid);
      if (frame) this.send(frame);
    }, delay / 2 + Math.random() * (delay / 2)));
    return true;
  }

  /** After (re)connecting and saying hello: send everything still unacknowledged. */
  resendAll() {
    for (const frame of this.frames.values()) this.send(frame);
  }
}
