"""Settings aiortc does not expose, applied process-wide by the server at startup."""

from __future__ import annotations

import aiortc.rtcrtpreceiver
from aiortc.jitterbuffer import JitterBuffer

_AIORTC_JITTER_BUFFER = aiortc.rtcrtpreceiver.JitterBuffer


def set_audio_prefetch(audio_prefetch: int | None) -> None:
    """aiortc (1.16) builds every audio receiver with JitterBuffer(capacity=16,
    prefetch=4): 80 ms held back whatever the network does. Our per-speaker buffer
    (sources.SpeakerInput) already absorbs jitter, so the server asks for less.
    None restores aiortc's own class."""
    if audio_prefetch is None:
        aiortc.rtcrtpreceiver.JitterBuffer = _AIORTC_JITTER_BUFFER  # type: ignore[misc]
        return

    class AudioPrefetch(JitterBuffer):
        def __init__(self, capacity: int, prefetch: int = 0, is_video: bool = False) -> None:
            super().__init__(capacity, prefetch if is_video else audio_prefetch, is_video)

    aiortc.rtcrtpreceiver.JitterBuffer = AudioPrefetch  # type: ignore[misc]
