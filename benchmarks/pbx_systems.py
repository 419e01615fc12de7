"""The two systems pbx_route.py compares, as configured for it: implus's routing
strategy, and Asterisk app_queue's dialplan extension and queue (the same agents, in
app_queue's leastrecent order).
"""

from __future__ import annotations

QUEUE_EXTEN = "7000"

STRATEGY = """\
defaults:
  offer_timeout: 15
  wrapup: {voice: 0, chat: 0, voip: 0}
  max_no_answer: 0
queues:
  bench: {}
rules:
  - name: everyone
    actions: {queue: bench}
    order: longest_idle
"""

QUEUE_DIALPLAN = f"""\
; app_queue side of the benchmark: the same customers, the same agents.
[implus-entry](+)
exten => {QUEUE_EXTEN},1,Answer()
 same => n,Queue(bench)
 same => n,Hangup()
"""


def queue_config(endpoints: list[str]) -> str:
    members = "".join(f"member => PJSIP/{e}\n" for e in endpoints)
    return (
        "[bench]\nstrategy = leastrecent\ntimeout = 15\nretry = 0\nwrapuptime = 0\n"
        "ringinuse = no\nautofill = yes\njoinempty = yes\nleavewhenempty = no\n"
        "musicclass = default\nannounce-frequency = 0\nperiodic-announce-frequency = 0\n"
        "announce-position = no\nreportholdtime = no\n" + members
    )
