"""A fake FreeSWITCH for tests: an event-socket server speaking the real wire format.

Checked against the transcripts recorded from a real FreeSWITCH 1.11.1 (tests/data/freeswitch):
see docs/freeswitch-esl.md.
"""
