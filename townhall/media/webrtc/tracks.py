"""aiortc tracks: a speaker's mix-minus out, and reading a speaker's audio in."""

from __future__ import annotations

import asyncio
import fractions
import logging

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from townhall import limits
from townhall.media.sources import SpeakerInput
from townhall.media.webrtc.aiortc_tuning import DirectSend

log = logging.getLogger(__name__)
TIME_BASE = fractions.Fraction(1, limits.SAMPLE_RATE)


class MixMinusTrack(MediaStreamTrack):
    """Everyone but this speaker, one Opus packet per mixer tick, encoded by the mixer
    (townhall/media/opus.py): aiortc sends it as it is. The packets may come from two
    encoders (the speaker's own, the shared program's); this track numbers them, so the
    RTP stream stays one."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._pts = 0
        # Set once the track has its sender: packets then go straight out
        # (aiortc_tuning.DirectSend) and recv() is never called.
        self.direct: DirectSend | None = None

    def feed(self, packet: bytes) -> None:
        """Called on the loop each tick. A slow consumer loses the oldest audio."""
        if self.direct is not None:
            self.direct.send(packet, self._pts)
            self._pts += limits.TICK_SAMPLES  # the stream's clock runs on when it cannot send
            return
        while self._queue.qsize() >= limits.MIX_MINUS_QUEUE_TICKS:
            self._queue.get_nowait()
        self._queue.put_nowait(packet)

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        packet = av.Packet(await self._queue.get())
        packet.pts = self._pts
        packet.time_base = TIME_BASE
        self._pts += limits.TICK_SAMPLES
        return packet


async def pump_track(track: MediaStreamTrack, target: SpeakerInput) -> None:
    """Copy decoded frames from a remote track into the speaker's jitter buffer."""
    try:
        while True:
            frame = await track.recv()
            target.push_frame(frame)
    except MediaStreamError:
        pass
