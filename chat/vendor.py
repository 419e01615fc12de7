"""Browser libraries installed from npm (package.json, ``make deps`` runs ``npm ci``),
served from node_modules: only the files named here, never the whole folder."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, send_from_directory

from chat.context import ctx
from chat.errors import NotFoundError

bp = Blueprint("vendor", __name__)

FILES = {
    "uplot/uPlot.esm.js": "uplot/dist/uPlot.esm.js",
    "uplot/uPlot.min.css": "uplot/dist/uPlot.min.css",
}
"""URL path under /vendor/ -> file under node_modules."""


@bp.get("/vendor/<path:name>")
def vendor_file(name: str) -> Any:
    relative = FILES.get(name)
    if relative is None:
        raise NotFoundError(f"no browser library file {name!r}")
    folder = ctx().settings.node_modules
    if not (folder / relative).is_file():
        raise NotFoundError(
            f"{relative} is not installed in {folder}: run `make deps` (npm ci) in the implus "
            "checkout, or point the node_modules setting at the folder holding it"
        )
    return send_from_directory(folder, relative, max_age=24 * 3600)
