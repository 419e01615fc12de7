"""`python -m esl_bridge ...` = `implus esl-bridge ...`, with gevent patched before anything else.

This is the one place in implus that monkey-patches: the ESL bridge is its own process, and
redis-py must use gevent's sockets so one slow Redis call does not stall every call.
"""

from gevent import monkey

monkey.patch_all()

from esl_bridge.cli import esl_bridge_command  # noqa: E402 - after patching, on purpose

esl_bridge_command(prog_name="implus esl-bridge")
