"""FreeSWITCH's live channels for the call flow's reconciliation (`callflow.reconcile` decides
what to repair; this module lists the channels and the phones).

FreeSWITCH never replays events: whatever happened while the bridge was disconnected (or
not running) is read from `show channels as json` and `show registrations as json`, after
every (re)connection and periodically. A caller waiting at an entry point is parked, or -
while its hold music plays through `uuid_broadcast` - listed with `application=playback`
(recorded from a real FreeSWITCH 1.11.1: ../shared/pbx/freeswitch/07-...); both count as
holding. An agent leg that answered and waits to be connected is parked and ACTIVE.
"""

from __future__ import annotations

import logging

from callflow.reconcile import LiveChannel

from .channels import ChannelRow
from .client import EslClient
from .errors import EslCommandFailed
from .presence import Presence

log = logging.getLogger("esl_bridge.reconcile")

HOLDING_APPLICATIONS = frozenset({"park", "playback"})


def live_channel(row: ChannelRow) -> LiveChannel:
    inbound = row.direction == "inbound"
    return LiveChannel(
        id=row.uuid,
        holding=inbound and row.application in HOLDING_APPLICATIONS,
        dialing=row.application == "bridge",
        answered_waiting=row.call_state == "ACTIVE" and row.application == "park",
        placed=False if inbound else None,
        number=row.caller_id_number,
        exten=row.destination,
        name=row.caller_id_name,
    )


def rebuild_presence(
    esl: EslClient, presence: Presence, rows: list[ChannelRow], timeout: float
) -> None:
    """Every agent phone's state from what FreeSWITCH lists now (after a (re)connection)."""
    try:
        registered = [r.user for r in esl.show_registrations(timeout=timeout)]
    except EslCommandFailed as e:
        log.warning(
            "cannot list registrations (%s); phones count as registered on their next REGISTER",
            e,
        )
        registered = list(presence.registered)
    presence.rebuild(registered, [(row.uuid, row.name) for row in rows])
