"""aiortc tracks: a speaker's mix-minus out, and reading a speaker's audio in."""

from __future__ import annotations

import asyncio
import fractions
import logging

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from townhall import limits
from townhall.media.sources import SpeakerInput

log = logging.getLogger(__name__)
TIME_BASE = fractions.Fraction(1, limits.SAMPLE_RATE)


class MixMinusTrack(MediaStreamTrack):
    """Everyone but this speaker, one 20 ms frame per mixer tick."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue: asyncio.Queue[np.ndarray] = asyncio.Queue()
        self._pts = 0

    def feed(self, pcm: np.ndarray) -> None:
        """Called on the loop each tick. A slow consumer loses the oldest audio."""
        while self._queue.qsize() >= limits.MIX_MINUS_QUEUE_TICKS:
            self._queue.get_nowait()
        self._queue.put_nowait(pcm)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        pcm = await self._queue.get()
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = limits.SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = TIME_BASE
        self._pts += pcm.shape[0]
        return frame


async def pump_track(track: MediaStreamTrack, target: SpeakerInput) -> None:
    """Copy decoded frames from a remote track into the speaker's jitter buffer."""
    try:
        while True:
            frame = await track.recv()
            target.push_frame(frame)
    except MediaStreamError:
        pass
