"""Inputs of the mixer: each yields one tick of mono int16 audio when asked.

SpeakerInput is filled from the event loop (decoded WebRTC frames) and drained by the
media thread, so it is the one place with a lock. SyntheticVoice is the demo speaker.
"""

from __future__ import annotations

import threading
from collections import deque

import av
import numpy as np

from townhall import limits


class SpeakerInput:
    """A speaker's jitter buffer: whole ticks of audio, bounded, oldest dropped."""

    def __init__(
        self,
        max_ticks: int = limits.JITTER_BUFFER_MAX_TICKS,
        target_ticks: int = limits.JITTER_BUFFER_TARGET_TICKS,
    ) -> None:
        self._lock = threading.Lock()
        self._pending = np.zeros(0, dtype=np.int16)
        self._ticks: deque[np.ndarray] = deque(maxlen=max_ticks)
        self._target = target_ticks
        self._priming = True  # after a gap: wait for `target` ticks before playing
        self._above_target = 0
        self.muted = False
        self.dropped_ticks = 0
        self.gaps = 0
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=limits.SAMPLE_RATE)

    def push_frame(self, frame: av.AudioFrame) -> None:
        """Called on the event loop with each decoded frame from the speaker's track.
        Frames already in the mixer's format (decoded to mono at 48 kHz) are read
        straight from their buffer; others are resampled first."""
        if (frame.format.name == "s16" and frame.layout.name == "mono"
                and frame.sample_rate == limits.SAMPLE_RATE):
            self.push(np.frombuffer(frame.planes[0], dtype=np.int16, count=frame.samples))
            return
        for out in self._resampler.resample(frame):
            self.push(out.to_ndarray().reshape(-1))

    def push(self, pcm: np.ndarray) -> None:
        pcm = pcm.astype(np.int16, copy=False)
        with self._lock:
            if not self._pending.shape[0] and pcm.shape[0] == limits.TICK_SAMPLES:
                # The usual case: one whole tick (20 ms frames), nothing left over.
                if len(self._ticks) == self._ticks.maxlen:
                    self.dropped_ticks += 1
                self._ticks.append(pcm.copy())  # the frame's buffer is not ours to keep
                return
            self._pending = np.concatenate((self._pending, pcm))
            while self._pending.shape[0] >= limits.TICK_SAMPLES:
                if len(self._ticks) == self._ticks.maxlen:
                    self.dropped_ticks += 1
                self._ticks.append(self._pending[: limits.TICK_SAMPLES])
                self._pending = self._pending[limits.TICK_SAMPLES :]

    @property
    def level(self) -> int:
        return len(self._ticks)

    def pull(self) -> np.ndarray | None:
        """One tick, or None when the speaker has nothing ready (a gap, not silence).
        Muted speakers are drained too, so unmuting does not replay old audio."""
        with self._lock:
            tick = self._next_tick()
        if tick is None or self.muted:
            return None
        return tick

    def _next_tick(self) -> np.ndarray | None:
        if self._priming:
            if len(self._ticks) < self._target:
                return None
            self._priming = False
        if not self._ticks:
            self._priming = True
            self.gaps += 1
            return None
        self._above_target = self._above_target + 1 if len(self._ticks) > self._target else 0
        if self._above_target >= limits.JITTER_SETTLE_TICKS:
            self._ticks.popleft()  # trim latency a burst left behind
            self.dropped_ticks += 1
            self._above_target = 0
        return self._ticks.popleft()


# A recognisable tune for the demo: a rising arpeggio, then a lower answer, with rests,
# so a newcomer hears at once that audio is live and not a test pattern.
DEMO_TUNE: list[tuple[float, float]] = [
    (523.25, 0.3), (659.25, 0.3), (783.99, 0.3), (1046.5, 0.6), (0.0, 0.4),
    (440.0, 0.3), (523.25, 0.3), (659.25, 0.6), (0.0, 0.9),
]


class SyntheticVoice:
    """A speaker made of tones: a tune of (frequency Hz, seconds); 0 Hz is a rest."""

    def __init__(self, tune: list[tuple[float, float]] = DEMO_TUNE, amplitude: float = 0.3):
        self._samples = np.concatenate([_tone(f, d, amplitude) for f, d in tune])
        self._offset = 0
        self.muted = False

    def pull(self) -> np.ndarray | None:
        n = limits.TICK_SAMPLES
        idx = (self._offset + np.arange(n)) % self._samples.shape[0]
        self._offset = (self._offset + n) % self._samples.shape[0]
        return None if self.muted else self._samples[idx]


def _tone(frequency: float, seconds: float, amplitude: float) -> np.ndarray:
    n = int(seconds * limits.SAMPLE_RATE)
    t = np.arange(n) / limits.SAMPLE_RATE
    wave = np.sin(2 * np.pi * frequency * t) if frequency else np.zeros(n)
    # 10 ms fades so notes start and stop without clicks.
    fade = min(n // 2, limits.SAMPLE_RATE // 100)
    envelope = np.ones(n)
    if fade:
        envelope[:fade] = np.linspace(0, 1, fade)
        envelope[-fade:] = np.linspace(1, 0, fade)
    return (wave * envelope * amplitude * 32767).astype(np.int16)


def tone(frequency: float, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    """A plain sine tone as mono int16 (tests and the synthetic speakers use it)."""
    n = int(seconds * limits.SAMPLE_RATE)
    t = np.arange(n) / limits.SAMPLE_RATE
    return (np.sin(2 * np.pi * frequency * t) * amplitude * 32767).astype(np.int16)
