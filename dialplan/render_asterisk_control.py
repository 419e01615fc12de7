"""Asterisk contexts for call control: hold, consult and listening in (docs/call-flow.md,
"Call control"). Part of extensions_implus.conf.

The bridge moves channels here with AMI `Redirect` (both legs of a call at once with
`ExtraChannel`) and joins them again with AMI `Bridge`; each context ends in `Hangup()`,
because a channel whose bridge ends continues at its next priority. Nothing here takes a
value from a caller: the bridge sets the variables, and what reaches `Dial`/`ChanSpy` is
filtered to the characters those applications cannot misread.
"""

from __future__ import annotations

from admin_config import targets

#: Characters a consult dial string keeps before it reaches Dial(): a technology, a resource,
#: an `@trunk`; no `&` (a second target) or `,` (options).
CONSULT_CHARS = "0-9A-Za-z/@+._-"
#: A Uniqueid to spy on (ChanSpy `u`), and the mode option letters the bridge may set.
SPY_CHARS = "0-9A-Za-z._-"
SPY_MODES = "wB"


def contexts() -> str:
    """The call-control contexts (the same for every Asterisk: no admin values in them)."""
    consult, ring = targets.CONSULT_DIAL_VAR, targets.RING_VAR
    spy, mode = targets.SPY_VAR, targets.SPY_MODE_VAR
    held, agent_held = targets.HELD_CONTEXT, targets.AGENT_HELD_CONTEXT
    return "\n".join(
        [
            f"[{held}]",
            "; A customer on hold (call control): the entry's music class, until the bridge",
            "; joins it to an agent again (AMI Bridge) or hangs it up.",
            "exten => s,1,NoOp(implus: customer on hold)",
            " same => n,MusicOnHold()",
            " same => n,Hangup()",
            "",
            f"[{agent_held}]",
            "; The agent waits while the customer is on hold (or after a consult ended).",
            "exten => s,1,NoOp(implus: agent waits)",
            " same => n,Wait(7200)",
            " same => n,Hangup()",
            "",
            f"[{targets.CONSULT_CONTEXT}]",
            "; The agent's own Dial of a consult target (the customer is on hold). `g`: when",
            "; the target hangs up, the agent goes back to waiting.",
            "exten => s,1,NoOp(implus consult)",
            f" same => n,Set({consult}=${{FILTER({CONSULT_CHARS},${{{consult}}})}})",
            f" same => n,GotoIf($[${{LEN(${{{consult}}})}} = 0]?back)",
            f" same => n,Dial(${{{consult}}},${{{ring}}},g)",
            " same => n,UserEvent(ImplusConsultEnded,Status: ${DIALSTATUS})",
            f" same => n(back),Set({consult}=)",
            f" same => n,Goto({agent_held},s,1)",
            "",
            f"[{targets.SPY_CONTEXT}]",
            "; A supervisor's phone, answered: listen to the agent leg IMPLUS_SPY (ChanSpy u),",
            "; no beep (q), modes by DTMF 4/5/6 (d: the bridge switches them), end with the",
            "; call (E, S).",
            "exten => s,1,NoOp(implus spy)",
            f" same => n,Set({spy}=${{FILTER({SPY_CHARS},${{{spy}}})}})",
            f" same => n,Set({mode}=${{FILTER({SPY_MODES},${{{mode}}})}})",
            f" same => n,GotoIf($[${{LEN(${{{spy}}})}} = 0]?done)",
            f" same => n,ChanSpy(${{{spy}}},qdESu${{{mode}}})",
            " same => n(done),Hangup()",
            "",
        ]
    )
