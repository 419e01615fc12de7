/* implus chat widget: ONE script tag on any site.
 *
 *   <script src="https://chat.example.com/static/widget.js"
 *           data-service="booking" data-token="<customer token from your backend>"></script>
 *
 * Options (data-*): service, token, mode ("floating": a launcher bubble that opens the
 * chat | "inline": the chat inside the element `target`), target, greeting (overrides the
 * service's), demo ("on": ask for a user id and get a demo token; the server must allow it).
 *
 * This file only reads the options and loads the widget's modules (static/widget/) from
 * the chat service's origin; nothing is added to the page's global scope.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var base = new URL(script.src, document.baseURI);
  var opts = {
    service: script.dataset.service || "general",
    token: script.dataset.token || "",
    mode: script.dataset.mode === "inline" ? "inline" : "floating",
    target: script.dataset.target || "",
    greeting: script.dataset.greeting || "",
    demo: script.dataset.demo === "on",
  };
  if (!opts.token && /^#token=/.test(location.hash)) {
    // the full-page chat takes the token from the URL fragment (never sent to a server)
    opts.token = decodeURIComponent(location.hash.slice(7));
  }
  import(new URL("widget/main.js", base).href).then(function (m) {
    m.start(opts, base.origin);
  }).catch(function (e) {
    if (window.console) { console.error("implus chat widget could not load", e); }
  });
})();
