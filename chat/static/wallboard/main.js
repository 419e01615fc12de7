// The wall board: one websocket (/ws/supervisor) feeds the queues, agents, charts and the
// drill-down; times count on every second from the server's clock (frames carry `now`).
import { connect } from "../common.js";
import { renderAgents } from "./agents.js";
import { drawCharts, loadChartLibrary } from "./charts.js";
import { Detail } from "./detail.js";
import { tick } from "./dom.js";
import { renderQueues, renderTiles } from "./queues.js";

export function startWallboard(root) {
  const state = {
    board: null, // the latest `board` frame
    history: null, // the latest `board_history` frame
    offset: 0, // server clock - this clock (ms)
    showQuiet: false,
    showOffline: false,
  };
  state.serverNow = () => Date.now() + state.offset;
  const linkState = document.getElementById("link-state");
  const updated = root.querySelector("#updated");
  const historyNote = root.querySelector("#wb-history-note");
  const detail = new Detail(root, state, () => render());

  function render() {
    if (!state.board) return;
    renderTiles(root, state);
    renderQueues(root, state, { open: (q, ch) => detail.open(q, ch), toggle: () => { state.showQuiet = !state.showQuiet; render(); } });
    renderAgents(root.querySelector("#agents"), state, state.board.agents, {
      toggle: () => { state.showOffline = !state.showOffline; render(); },
      foldOffline: true,
    });
    root.querySelector("#wb-agent-counts").textContent = agentCounts(state.board.agents);
  }

  function onHistory(f) {
    state.history = f;
    if (f.error) {
      historyNote.textContent = `The last hour is unavailable: ${f.error}`;
      historyNote.classList.add("wb-error");
    } else {
      historyNote.classList.remove("wb-error");
      historyNote.textContent = f.as_of
        ? `Last hour from the reports database, up to ${new Date(f.as_of).toLocaleTimeString()}.`
        : "Last hour from the reports database: nothing stored yet.";
    }
    drawCharts(root, f);
    render();
  }

  const link = connect("/ws/supervisor", [], {
    onOpen: () => { linkState.textContent = "live"; link.send({ type: "hello" }); },
    onClose: () => { linkState.textContent = "reconnecting…"; },
    onFrame: (f) => {
      if (f.type === "board") {
        state.offset = f.now - Date.now();
        state.board = f;
        render();
        detail.refresh();
        updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      } else if (f.type === "board_history") {
        onHistory(f);
      }
    },
  });
  // durations (longest wait, time in state) count on between pushes
  setInterval(() => tick(root, state.serverNow()), 1000);
  loadChartLibrary().then(() => { if (state.history) drawCharts(root, state.history); });
}

function agentCounts(agents) {
  const n = (a) => agents.filter((x) => x.activity === a).length;
  const on = agents.length - n("offline");
  return `${on} logged in: ${n("idle")} idle, ${n("busy") + n("ringing")} busy or ringing, ${n("wrap-up")} in wrap-up, ${n("away")} away`;
}
