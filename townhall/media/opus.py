"""Every speaker's mix-minus as Opus, encoded once per tick in the mixer's thread.

Only speakers who are talking need a mix that leaves their own voice out; everyone else
on stage hears the program (what they would hear anyway, give or take their own
silence), so one shared encode serves them all, as conference bridges do. A 13-speaker
Space with 2 talking encodes 3 streams a tick instead of 13. The packets go to aiortc
pre-encoded (townhall.media.webrtc.tracks.MixMinusTrack), which also spares aiortc's
per-frame resample to stereo, its encode in a thread pool and its per-sample audio level.

A speaker switching between the shared stream and their own keeps one RTP stream (the
track numbers the packets); Opus decoders take packets from either encoder.
"""

from __future__ import annotations

from collections.abc import Mapping

import av
import numpy as np

from townhall import limits


class OpusStream:
    """One libopus encoder: 20 ms of mono int16 in, one Opus packet's bytes out."""

    def __init__(self, bitrate: int = limits.MIX_MINUS_OPUS_BITRATE) -> None:
        self._codec = av.CodecContext.create("libopus", "w")
        self._codec.bit_rate = bitrate
        self._codec.format = "s16"
        self._codec.layout = "mono"
        self._codec.sample_rate = limits.SAMPLE_RATE
        self._codec.options = {"application": "voip"}
        self._pts = 0

    def encode(self, pcm: np.ndarray) -> bytes:
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = limits.SAMPLE_RATE
        frame.pts = self._pts
        self._pts += pcm.shape[-1]
        return b"".join(bytes(packet) for packet in self._codec.encode(frame))


class MixMinusEncoders:
    """The mixer's Opus encoders: one per talking speaker, one for the program."""

    def __init__(self) -> None:
        self._program = OpusStream()
        self._own: dict[str, OpusStream] = {}
        self._quiet_ticks: dict[str, int] = {}
        self.encodes = 0  # Opus encodes run, for /metrics and the benchmark

    def talking(self, key: str, level: float | None) -> bool:
        """Whether `key` talks this tick (with hangover); None = no audio this tick."""
        quiet = 0 if level is not None and level >= limits.TALKING_RMS else (
            self._quiet_ticks.get(key, limits.TALKING_HANGOVER_TICKS) + 1)
        self._quiet_ticks[key] = quiet
        return quiet <= limits.TALKING_HANGOVER_TICKS

    def encode(self, listeners: frozenset[str], levels: Mapping[str, float],
               program: np.ndarray, minus: Mapping[str, np.ndarray]) -> dict[str, bytes]:
        """{listener: Opus packet}: their own mix-minus while they talk, else the
        program's (encoded once for all of them)."""
        out: dict[str, bytes] = {}
        shared: bytes | None = None
        for key in listeners:
            if key in minus and self.talking(key, levels.get(key)):
                stream = self._own.get(key)
                if stream is None:
                    stream = self._own[key] = OpusStream()
                out[key] = stream.encode(minus[key])
                self.encodes += 1
            else:
                if shared is None:
                    shared = self._program.encode(program)
                    self.encodes += 1
                out[key] = shared
        for gone in self._own.keys() - listeners:  # left the stage
            del self._own[gone]
            self._quiet_ticks.pop(gone, None)
        return out
