"""Utterances from one speaker's own audio level: pure (no clock, no threads).

The mixer knows each speaker's audio apart, so there is nothing to diarize: an
utterance is a stretch of one speaker's audio above SPEECH_LEVEL, ended by
SILENCE_ENDS of quiet (or cut at MAX_UTTERANCE: Whisper hears 30 s at most). While it
is open, a `Partial` asks for a fresh decode every PARTIAL_EVERY seconds (Whisper does
not stream: each decode re-reads the whole open utterance); its end gives a `Final`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# RMS of int16 audio / 32768 (about -40 dBFS): a speaking voice is well above it, a
# quiet room and WebRTC's comfort noise below.
SPEECH_LEVEL = 0.01
# Quiet this long ends an utterance (gaps between words are shorter).
SILENCE_ENDS = 0.7
# Audio kept from before the level rose (a soft first consonant) and after it fell.
PREROLL = 0.3
# Shorter voiced stretches (a cough, a click) are not sent to the recogniser.
MIN_SPEECH = 0.25
PARTIAL_EVERY = 2.0
MAX_UTTERANCE = 20.0
RATE = 16_000  # what Whisper hears


@dataclass(frozen=True)
class Partial:
    utterance: int
    start: float  # seconds of the audio timeline
    end: float
    audio: np.ndarray  # float32 mono at RATE


@dataclass(frozen=True)
class Final(Partial):
    pass


Action = Partial | Final


@dataclass
class UtteranceSegmenter:
    speech_level: float = SPEECH_LEVEL
    silence_ends: float = SILENCE_ENDS
    min_speech: float = MIN_SPEECH
    partial_every: float = PARTIAL_EVERY
    max_utterance: float = MAX_UTTERANCE
    preroll: float = PREROLL
    _chunks: list[np.ndarray] = field(default_factory=list)
    _pre: list[np.ndarray] = field(default_factory=list)
    _pre_start: float = 0.0
    _start: float | None = None
    _voiced: float = 0.0  # seconds above the level in the open utterance
    _last_voice: float = 0.0  # audio time the level was last above SPEECH_LEVEL
    _last_partial: float = 0.0
    _next_id: int = 0

    @property
    def open(self) -> bool:
        return self._start is not None

    def push(self, t: float, level: float, audio: np.ndarray) -> list[Action]:
        """`audio` (float32 at RATE) starts at audio time `t` and has this `level`."""
        duration = len(audio) / RATE
        end = t + duration
        loud = level >= self.speech_level
        if self._start is None:
            if not loud:
                self._keep_preroll(t, audio)
                return []
            self._start = self._pre_start if self._pre else t
            self._chunks = [*self._pre, audio]
            self._pre = []
            self._voiced = duration
            self._last_voice = end
            self._last_partial = self._start
            return []
        self._chunks.append(audio)
        if loud:
            self._voiced += duration
            self._last_voice = end
        if end - self._start >= self.max_utterance:
            return self._close(end)
        if not loud and end - self._last_voice >= self.silence_ends:
            return self._close(min(end, self._last_voice + self.preroll))
        if end - self._last_partial >= self.partial_every and self._voiced >= self.min_speech:
            self._last_partial = end
            return [Partial(self._next_id, self._start, end, self._audio(end))]
        return []

    def flush(self) -> list[Action]:
        """The speaker left: close what is open."""
        if self._start is None:
            return []
        return self._close(self._last_voice)

    def _close(self, end: float) -> list[Action]:
        assert self._start is not None
        start, voiced = self._start, self._voiced
        audio = self._audio(end)
        self._start, self._chunks, self._voiced = None, [], 0.0
        utterance = self._next_id
        self._next_id += 1
        if voiced < self.min_speech:
            return []
        return [Final(utterance, start, end, audio)]

    def _audio(self, end: float) -> np.ndarray:
        assert self._start is not None
        joined = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)
        return joined[: max(0, round((end - self._start) * RATE))]

    def _keep_preroll(self, t: float, audio: np.ndarray) -> None:
        self._pre.append(audio)
        kept = sum(len(a) for a in self._pre) / RATE
        while self._pre and kept - len(self._pre[0]) / RATE >= self.preroll:
            kept -= len(self._pre.pop(0)) / RATE
        self._pre_start = t + len(audio) / RATE - kept


def to_16k(pcm: np.ndarray) -> np.ndarray:
    """48 kHz int16 -> 16 kHz float32: each three samples averaged (a box filter is
    enough for speech; Whisper's features stop at 8 kHz anyway)."""
    usable = len(pcm) - len(pcm) % 3
    return (pcm[:usable].astype(np.float32).reshape(-1, 3).mean(axis=1) / 32768.0)
