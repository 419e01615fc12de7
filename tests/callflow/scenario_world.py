"""The shared scenarios' world (test_scenarios.py): the agents and entry points both PBXs
get, the routing strategy, and `start` to put them on a PBX."""

from __future__ import annotations

from pbx_drivers import AgentSpec, EntrySpec, PbxDriver, Phone, World

MAX_WAIT = 4
"""Seconds a caller at `quick_in` waits before its overflow (the dialplan's own safety net
fires 15 s later: the hold margin)."""

WORLD = World(
    agents=(
        AgentSpec("alice", {"booking": 5}),  # the highest skill: offered booking calls first
        AgentSpec("bob", {"booking": 1}),
        AgentSpec("carol", {"billing": 1}),
    ),
    entries=(
        EntrySpec("booking_in", "800", "booking"),
        EntrySpec("billing_in", "801", "billing"),
        EntrySpec("claims_in", "802", "claims"),  # the strategy overflows it after 1 s
        EntrySpec("quick_in", "803", "booking", max_wait=MAX_WAIT),
    ),
)

STRATEGY = """\
defaults:
  offer_timeout: {offer_timeout}
  reject_delay: 30
  max_no_answer: 0
  known_agent_wait: 15
  wrapup: {{voice: 0, chat: 0, voip: 0}}
queues:
  booking: {{skills: {{booking: 1}}}}
  billing: {{skills: {{billing: 1}}}}
  nobody: {{skills: {{nobody: 1}}}}
rules:
  - name: claims
    conditions: service == "claims"
    actions: {{queue: nobody, overflow: voicemail}}
    goals:
      - {{after: 1, overflow: true}}
  - name: billing
    conditions: service == "billing"
    actions: {{queue: billing}}
  - name: booking
    conditions: "true"
    actions: {{queue: booking}}
    order: highest_skill
"""

ANSWERS = Phone("answer", ring=0.2)


def start(pbx: PbxDriver, offer_timeout: float = 8) -> None:
    """Start `pbx`'s call centre with the world and the strategy (offer timeout in seconds)."""
    pbx.start(WORLD, STRATEGY.format(offer_timeout=offer_timeout))
