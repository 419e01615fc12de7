// Wall board formatting: durations, shares, loads. Pure functions.

/** "–" for nothing, else 45s / 3m 05s / 2h 04m. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

export function percent(v) {
  return v === null || v === undefined ? "–" : `${Math.round(v * 100)}%`;
}

/** "chat 1/3, voice 0/1": load against capacity per channel. */
export function loadText(load, capacity) {
  const chans = new Set([...Object.keys(load || {}), ...Object.keys(capacity || {})]);
  return [...chans].sort().map((c) => `${c} ${(load || {})[c] || 0}/${(capacity || {})[c] ?? "?"}`).join(", ");
}

export const ACTIVITIES = ["ringing", "busy", "wrap-up", "idle", "away", "offline"];
export const ACTIVITY_LABEL = {
  ringing: "Ringing", busy: "Busy", "wrap-up": "Wrap-up", idle: "Idle", away: "Away", offline: "Logged out",
};

export function queueKey(queue, channel) { return `${queue}\u0000${channel}`; }
