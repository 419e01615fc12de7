// Getting an agent's attention: a sound, a desktop notification and the tab title when an
// offer arrives, and the unread count in the title. Preferences live in localStorage.

const PREFS = "implus:desktop:alerts";
const BASE_TITLE = document.title;

function loadPrefs() {
  try { return { sound: true, ...JSON.parse(localStorage.getItem(PREFS) || "{}") }; }
  catch { return { sound: true }; }
}

export class Alerts {
  constructor() {
    this.prefs = loadPrefs();
    this.audio = null;
    this.offers = 0;
    this.unread = 0;
    this.flash = null;
    // Browsers let a page play sound only after the user did something on it.
    const unlock = () => { this.ensureAudio(); };
    window.addEventListener("pointerdown", unlock, { once: true, capture: true });
    window.addEventListener("keydown", unlock, { once: true, capture: true });
    document.addEventListener("visibilitychange", () => this.title());
    window.addEventListener("focus", () => this.title());
  }

  save() { try { localStorage.setItem(PREFS, JSON.stringify(this.prefs)); } catch { /* private mode */ } }

  ensureAudio() {
    if (this.audio || !(window.AudioContext || window.webkitAudioContext)) return this.audio;
    this.audio = new (window.AudioContext || window.webkitAudioContext)();
    return this.audio;
  }

  /** Two short rising tones: "something for you". */
  chime() {
    if (!this.prefs.sound) return false;
    const ctx = this.ensureAudio();
    if (!ctx) return false;
    if (ctx.state === "suspended") ctx.resume();
    const t0 = ctx.currentTime;
    [[660, 0], [880, 0.18]].forEach(([freq, at]) => {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, t0 + at);
      gain.gain.exponentialRampToValueAtTime(0.25, t0 + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + at + 0.16);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t0 + at);
      osc.stop(t0 + at + 0.17);
    });
    return true;
  }

  notificationsState() {
    if (!("Notification" in window)) return "unsupported";
    return Notification.permission; // default | granted | denied
  }

  async askForNotifications() {
    if (this.notificationsState() !== "default") return this.notificationsState();
    return Notification.requestPermission();
  }

  /** A desktop notification for an offer; clicking it brings the desktop forward. */
  notify(title, body, tag, onClick) {
    if (this.notificationsState() !== "granted") return null;
    const n = new Notification(title, { body, tag, requireInteraction: true });
    n.onclick = () => { window.focus(); if (onClick) onClick(); n.close(); };
    return n;
  }

  newOffer(offer, onClick) {
    this.chime();
    const note = this.notifyOffer(offer, onClick);
    this.title();
    return note;
  }

  notifyOffer(offer, onClick) {
    const who = offer.customer_name || offer.user_id || "a customer";
    const what = offer.channel === "chat" ? "chat" : offer.callback ? "call back" : "call";
    const title = `New ${what} · ${offer.service || "service"} · ${who}`;
    return this.notify(title, offer.preview || "", `offer-${offer.offer_id}`, onClick);
  }

  /** "(2) New offer - Desktop" while offers wait; "(3) Desktop" for unread messages. */
  title() {
    clearInterval(this.flash);
    this.flash = null;
    const count = this.offers + this.unread;
    const base = count ? `(${count}) ${BASE_TITLE}` : BASE_TITLE;
    document.title = base;
    if (this.offers) {
      const alt = `(${count}) New offer · ${BASE_TITLE}`;
      document.title = alt;
      let on = true;
      this.flash = setInterval(() => { on = !on; document.title = on ? alt : base; }, 1200);
    }
  }

  setCounts(offers, unread) {
    if (offers === this.offers && unread === this.unread) return;
    this.offers = offers;
    this.unread = unread;
    this.title();
  }
}
