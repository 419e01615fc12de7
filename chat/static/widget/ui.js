// The widget's DOM, inside a shadow root so the host page's CSS cannot touch it: a
// launcher bubble (floating mode), the panel with a header that really minimises, the
// message log, the composer (emoji, a styled attach button, send) and "Call me".
export function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

const EMOJI = ["😀", "😂", "🙂", "😉", "😍", "👍", "🙏", "🎉", "❤️", "😢", "😮", "🤔"];
const SVG = "http://www.w3.org/2000/svg";

function icon(path, stroke = false) {
  const svg = document.createElementNS(SVG, "svg");
  if (stroke) svg.setAttribute("class", "stroke");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const p = document.createElementNS(SVG, "path");
  p.setAttribute("d", path);
  svg.append(p);
  return svg;
}
const CHAT_ICON = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z";
const CLIP_ICON = "M16.5 6.5l-7.8 7.8a2 2 0 0 0 2.8 2.8l8-8a4 4 0 0 0-5.7-5.7l-8.2 8.2a6 6 0 0 0 8.5 8.5l7.4-7.4";
const SEND_ICON = "M3 20l18-8L3 4v6l12 2-12 2z";
const PHONE_ICON = "M6.6 10.8a15 15 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25 11.4 11.4 0 0 0 3.6.57 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.45.57 3.57a1 1 0 0 1-.25 1z";

/** Build the widget; returns its parts. */
export function build(opts, origin) {
  const host = el("div", { class: "implus-widget-host" });
  const root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  root.append(el("link", { rel: "stylesheet", href: `${origin}/static/widget.css` }));
  const ui = { host, root };
  const wrap = el("div", { class: `wrap ${opts.mode}` });
  ui.launcher = el("button", { type: "button", class: "launcher", "aria-label": "Open the chat",
    "aria-expanded": "false", "aria-controls": "implus-chat-panel" });
  ui.launcher.append(icon(CHAT_ICON));
  ui.badge = el("span", { class: "badge", hidden: "", "aria-hidden": "true" });
  ui.launcher.append(ui.badge);
  ui.box = el("section", { class: "box", id: "implus-chat-panel", "aria-label": "Chat with us" });
  const head = el("header", { class: "head" });
  const titles = el("div", { class: "titles" });
  titles.append(el("h2", { class: "title" }, "Chat with us"));
  ui.state = el("p", { class: "state", role: "status" }, "connecting…");
  titles.append(ui.state);
  head.append(titles);
  ui.minimise = el("button", { type: "button", class: "minimise", "aria-label": "Minimise the chat" });
  ui.minimise.append(el("span", { "aria-hidden": "true" }, "–"));
  if (opts.mode === "floating") head.append(ui.minimise);
  ui.box.append(head);
  ui.body = el("div", { class: "body" });
  ui.log = el("ol", { class: "log", "aria-live": "polite", "aria-label": "Messages", tabindex: "0" });
  ui.typing = el("p", { class: "typing", "aria-live": "polite" });
  ui.error = el("p", { class: "error", role: "alert" });
  ui.body.append(ui.log, ui.typing, ui.error);
  ui.box.append(ui.body);

  ui.form = el("form", { class: "compose" });
  ui.input = el("textarea", { class: "text", rows: "2", maxlength: "4000", "aria-label": "Your message",
    placeholder: "Type a message…" });
  const tools = el("div", { class: "tools" });
  ui.emojiBtn = el("button", { type: "button", class: "tool emoji-btn", "aria-label": "Insert an emoji",
    "aria-expanded": "false" }, "😀");
  ui.emojiBar = el("div", { class: "emoji-bar", hidden: "", role: "group", "aria-label": "Emoji" });
  for (const e of EMOJI) {
    const b = el("button", { type: "button", "aria-label": `emoji ${e}` }, e);
    b.addEventListener("click", () => { ui.input.value += e; ui.input.focus(); });
    ui.emojiBar.append(b);
  }
  ui.emojiBtn.addEventListener("click", () => {
    ui.emojiBar.hidden = !ui.emojiBar.hidden;
    ui.emojiBtn.setAttribute("aria-expanded", String(!ui.emojiBar.hidden));
  });
  const attach = el("label", { class: "tool attach", title: "Send a file or image" });
  attach.append(icon(CLIP_ICON, true));
  ui.fileInput = el("input", { type: "file", class: "file", "aria-label": "Send a file or image" });
  attach.append(ui.fileInput);
  ui.send = el("button", { type: "submit", class: "send", "aria-label": "Send" });
  ui.send.append(icon(SEND_ICON), el("span", { class: "send-word" }, "Send"));
  tools.append(ui.emojiBtn, attach, el("span", { class: "grow" }), ui.send);
  ui.form.append(ui.emojiBar, ui.input, tools);

  ui.callBox = el("div", { class: "callme-box", hidden: "" });
  ui.callToggle = el("button", { type: "button", class: "link-btn callme-toggle", "aria-expanded": "false" });
  ui.callToggle.append(icon(PHONE_ICON), el("span", {}, "Prefer a phone call?"));
  ui.callForm = el("form", { class: "callme", hidden: "" });
  ui.callNumber = el("input", { type: "tel", maxlength: "24", class: "call-number", autocomplete: "tel",
    "aria-label": "Your phone number", placeholder: "+49 30 1234567" });
  ui.callForm.append(ui.callNumber, el("button", { type: "submit", class: "call-btn" }, "Call me"));
  ui.callToggle.addEventListener("click", () => {
    ui.callForm.hidden = !ui.callForm.hidden;
    ui.callToggle.setAttribute("aria-expanded", String(!ui.callForm.hidden));
    if (!ui.callForm.hidden) ui.callNumber.focus();
  });
  ui.callBox.append(ui.callToggle, ui.callForm);

  ui.login = el("form", { class: "demo-login" });
  ui.userInput = el("input", { class: "user-id", "aria-label": "Your user id (demo)", placeholder: "user id, e.g. u42", maxlength: "128" });
  ui.nameInput = el("input", { class: "user-name", "aria-label": "Your name (demo, optional)", placeholder: "your name (optional)", maxlength: "200" });
  ui.login.append(el("p", { class: "hint" }, "Demo: chat as any user id."), ui.userInput, ui.nameInput,
    el("button", { type: "submit", class: "start" }, "Start chat"));

  wrap.append(ui.box);
  if (opts.mode === "floating") wrap.append(ui.launcher);
  root.append(wrap);
  const mount = opts.target ? document.getElementById(opts.target) : null;
  (mount || document.body).append(host);
  return ui;
}

/** Floating mode: the panel opens from the launcher and minimises back into it. */
export function toggler(ui, opts, key) {
  const api = {
    open: opts.mode === "inline",
    set(open, focus = true) {
      api.open = open || opts.mode === "inline";
      ui.box.hidden = !api.open;
      ui.launcher.setAttribute("aria-expanded", String(api.open));
      ui.launcher.setAttribute("aria-label", api.open ? "Close the chat" : "Open the chat");
      ui.launcher.classList.toggle("is-open", api.open);
      try { sessionStorage.setItem(key, api.open ? "open" : "closed"); } catch { /* private mode */ }
      if (api.open) {
        api.unread(0);
        if (api.onOpen) api.onOpen();
        if (focus) ui.input.focus();
      } else if (focus) ui.launcher.focus();
    },
    count: 0,
    unread(n) {
      api.count = n;
      ui.badge.hidden = !n;
      ui.badge.textContent = n ? String(n) : "";
      ui.launcher.setAttribute("aria-label", n ? `Open the chat, ${n} new message${n > 1 ? "s" : ""}` : "Open the chat");
    },
  };
  ui.launcher.addEventListener("click", () => api.set(!api.open));
  ui.minimise.addEventListener("click", () => api.set(false));
  let remembered = "closed";
  try { remembered = sessionStorage.getItem(key) || "closed"; } catch { /* private mode */ }
  api.set(remembered === "open", false);
  return api;
}
