"""Audio for the sandbox's sipp phones and for checking recordings.

The talking scenarios (`agent_answer_media.xml`, `customer_call_media.xml`) stream
`TONE` as RTP once answered, so a bridge carries audio and MixMonitor has frames to
record; `wav_seconds` measures what a recording holds.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path

#: Inside the chroot: the audio the talking scenarios send (1 s of 440 Hz, PCMU, looped).
TONE = "/var/lib/implus-sipp/tone.ul"


def ulaw_tone(seconds: float = 1.0, hz: float = 440.0, rate: int = 8000) -> bytes:
    """A sine tone as G.711 mu-law bytes (what sipp's rtp_stream sends as PCMU)."""
    out = bytearray()
    for n in range(int(seconds * rate)):
        sample = int(12000 * math.sin(2 * math.pi * hz * n / rate))
        sign = 0x80 if sample < 0 else 0
        magnitude = min(abs(sample), 32635) + 0x84
        exponent = 7
        while exponent > 0 and not magnitude & (0x4000 >> (7 - exponent)):
            exponent -= 1
        mantissa = (magnitude >> (exponent + 3)) & 0x0F
        out.append(~(sign | exponent << 4 | mantissa) & 0xFF)
    return bytes(out)


def wav_seconds(path: Path) -> float:
    """The length of a WAV file in seconds (raises wave.Error if it is not one)."""
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / float(w.getframerate())
