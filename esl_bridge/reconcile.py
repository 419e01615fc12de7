"""Rebuilding the bridge's view from FreeSWITCH: after every (re)connection and periodically.

FreeSWITCH never replays events, so whatever happened while the bridge was disconnected (or
not running) is read from `show channels as json` and `show registrations as json`:

- calls the bridge holds (its records in Redis) are checked one by one (esl_bridge.inbound /
  .outbound `reconcile`): a caller gone -> cancel or complete; an agent's leg gone while
  ringing -> offer_failed; an agent's leg answered meanwhile -> connect; a waiting caller
  whose request the router lost -> routed again;
- parked entry-point calls the bridge has no record of (Redis lost, or they parked while it
  was down) are taken over: their `implus_*` variables are read with `uuid_getvar`;
- parked agent legs of offers nobody holds any more (`implus_caller` set, no record) are hung
  up, so an agent never sits in a silent call;
- phones: registrations and live channels rebuild every agent's `sip` presence.

Records changed less than `SETTLE_MS` before the snapshot are left to the next pass: their
events may still be on the way.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from esl_bridge.channels import ChannelRow
from esl_bridge.errors import EslCommandFailed
from esl_bridge.records import Direction

if TYPE_CHECKING:
    from esl_bridge.inbound import InboundCalls
    from esl_bridge.outbound import OutboundCalls
    from esl_bridge.switchboard import Switchboard

log = logging.getLogger("esl_bridge.reconcile")

SETTLE_MS = 1000


def reconcile(
    sb: Switchboard,
    inbound: InboundCalls,
    outbound: OutboundCalls,
    *,
    reload: bool,
    presence: bool = True,
) -> int:
    """Repair calls (and with `presence`, the phones' states) from what FreeSWITCH lists now;
    returns how many calls were looked at. With `reload`, the records are read from Redis
    first (after a start). Raises EslError if FreeSWITCH cannot be asked (the caller retries).

    Periodic sweeps leave presence alone: events keep it current while connected, and a
    snapshot older than the events already handled would undo them."""
    snapshot_ms = sb.clock()
    rows = sb.esl.show_channels(timeout=sb.settings.api_timeout)
    live = {row.uuid: row for row in rows}
    if presence:
        _rebuild_presence(sb, rows)
    records = sb.calls.load() if reload else sb.calls.all()
    for rec in records:
        if rec.updated_ms >= snapshot_ms - SETTLE_MS:
            continue
        if rec.direction is Direction.INBOUND:
            inbound.reconcile(rec, live)
        else:
            outbound.reconcile(rec, live)
    known = {leg for rec in sb.calls.all() for leg in rec.legs()}
    for row in rows:
        if row.uuid not in known and row.application == "park":
            _unknown_parked(sb, inbound, row)
    return len(records)


def _rebuild_presence(sb: Switchboard, rows: list[ChannelRow]) -> None:
    try:
        registered = [r.user for r in sb.esl.show_registrations(timeout=sb.settings.api_timeout)]
    except EslCommandFailed as e:
        log.warning(
            "cannot list registrations (%s); phones count as registered on their next REGISTER",
            e,
        )
        registered = list(sb.presence.registered)
    sb.presence.rebuild(registered, [(row.uuid, row.name) for row in rows])


def _unknown_parked(sb: Switchboard, inbound: InboundCalls, row: ChannelRow) -> None:
    """A parked channel no record names: a caller to take over, or an orphaned agent leg."""
    if row.direction == "inbound":
        entry = _getvar(sb, row.uuid, "implus_entry")
        if not entry:
            return
        variables = {"implus_entry": entry}
        for name in (
            "implus_service",
            "implus_user",
            "implus_language",
            "implus_hold_music",
            "implus_max_wait",
        ):
            variables[name] = _getvar(sb, row.uuid, name) or ""
        log.info("taking over parked call %s (entry %s) that no record names", row.uuid, entry)
        inbound.take(row.uuid, variables, row.caller_id_number)
    elif _getvar(sb, row.uuid, "implus_caller") or _getvar(sb, row.uuid, "implus_dial"):
        log.info("hanging up agent leg %s: no call holds it any more", row.uuid)
        sb.kill(row.uuid, "ORIGINATOR_CANCEL")


def _getvar(sb: Switchboard, uuid: str, name: str) -> str | None:
    reply = sb.api(f"uuid_getvar {uuid} {name}")
    if reply is None or reply.startswith("-") or reply.strip() in ("", "_undef_"):
        return None
    return reply.strip()
