// Supervisor page: the wall board (static/wallboard/), pushed live over /ws/supervisor.
import { startWallboard } from "./wallboard/main.js";

startWallboard(document.getElementById("wallboard"));
