"""Audio checks by content, for tests and benchmarks alike: which frequencies are in a
signal and how strongly, how loud it is, and trains of identifiable tone markers (made,
found again, and timed).

Signals are mono numpy arrays: int16 PCM (what townhall.tools.clients decode and send)
or floats in [-1, 1] (a browser's, a WAV's); `rate` is the sample rate, 48 kHz unless
told.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from townhall import limits

RATE = limits.SAMPLE_RATE


# --- spectrum and level ----------------------------------------------------------------


def spectrum(pcm: np.ndarray, rate: int = RATE, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, magnitudes) of the Hann-windowed signal; `n` zero-pads the FFT (a
    finer frequency grid for a short window)."""
    x = pcm.astype(np.float64) * np.hanning(pcm.shape[0])
    size = n or pcm.shape[0]
    return np.fft.rfftfreq(size, 1 / rate), np.abs(np.fft.rfft(x, n=size))


def dominant_frequency(pcm: np.ndarray, rate: int = RATE, above: float = 50.0,
                       n: int | None = None) -> float:
    """The strongest frequency at or above `above` Hz (DC and rumble left out)."""
    freqs, magnitude = spectrum(pcm, rate, n)
    magnitude[freqs < above] = 0
    return float(freqs[int(np.argmax(magnitude))])


def band_level_db(pcm: np.ndarray, frequency: float, width: float = 15.0, rate: int = RATE) -> float:
    """Energy within `width` Hz of `frequency` relative to the whole signal's, in dB."""
    freqs, magnitude = spectrum(pcm, rate)
    power = magnitude**2
    band = power[np.abs(freqs - frequency) <= width].sum()
    return float(10 * np.log10(band / max(power.sum(), 1e-12) + 1e-12))


def band_power_db(pcm: np.ndarray, frequency: float, width: float = 15.0, rate: int = RATE) -> float:
    """Mean power within `width` Hz of `frequency`, in dB of the signal's own scale:
    absolute, so comparable between recordings of the same length and kind (unlike
    band_level_db, relative to the whole signal)."""
    freqs, magnitude = spectrum(pcm, rate)
    power = magnitude**2 / pcm.shape[0] ** 2
    return float(10 * np.log10(power[np.abs(freqs - frequency) <= width].sum() + 1e-20))


def full_scale(pcm: np.ndarray) -> np.ndarray:
    """The signal as floats where 1.0 is full scale (int16 / 32768; floats as they are)."""
    x = pcm.astype(np.float64)
    return x / 32768.0 if np.issubdtype(pcm.dtype, np.integer) else x


def rms(pcm: np.ndarray) -> float:
    """Root mean square, 1.0 = full scale (0.0 for no samples)."""
    return float(np.sqrt(np.mean(np.square(full_scale(pcm))))) if pcm.size else 0.0


def write_wav(path: Path, pcm: np.ndarray, rate: int = RATE) -> Path:
    """A mono 16-bit WAV of int16 PCM."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.astype("<i2").tobytes())
    return path


# --- markers -----------------------------------------------------------------------------

# Marker i is a burst at TAG_FREQUENCIES[i % len]: the frequency names the marker, so a
# marker heard later than the spacing between markers (HLS) is still matched to the one
# that was sent, and a lost marker cannot shift every later match.
TAG_FREQUENCIES = [500.0 + 150.0 * k for k in range(10)]  # 500 .. 1850 Hz
MARKER_AMPLITUDE = 0.3
MARKER_SECONDS = 0.030
# Onset threshold: a third of the burst's amplitude. Low enough to catch the first
# cycle, high enough that codec pre-echo (AAC spreads energy up to a block early) and
# Opus noise do not trigger it.
ONSET_THRESHOLD = MARKER_AMPLITUDE / 3
QUIET_BEFORE_ONSET = 0.3  # seconds of quiet required before an onset counts


def marker_burst(tag: int, offset: int = 0, count: int | None = None) -> np.ndarray:
    """Samples `offset` .. `offset + count` of marker `tag`'s burst (int16; all of it
    by default)."""
    count = int(MARKER_SECONDS * RATE) - offset if count is None else count
    t = (offset + np.arange(count)) / RATE
    tone = np.sin(2 * np.pi * TAG_FREQUENCIES[tag % len(TAG_FREQUENCIES)] * t)
    return (tone * MARKER_AMPLITUDE * 32767).astype(np.int16)


def tag_of_frequency(frequency: float) -> int | None:
    """The marker tag whose frequency is nearest, if within half a tag step."""
    k = int(np.argmin([abs(frequency - f) for f in TAG_FREQUENCIES]))
    return k if abs(frequency - TAG_FREQUENCIES[k]) < 75.0 else None


def burst_frequency(pcm: np.ndarray, onset: int) -> float:
    """Dominant frequency of the 25 ms after an onset (zero-padded FFT, above 200 Hz)."""
    window = pcm[onset : onset + int(0.025 * RATE)]
    if window.size < 64:
        return 0.0
    return dominant_frequency(window, above=200.0, n=8192)


def find_onsets(pcm: np.ndarray) -> list[int]:
    """Sample indices where |pcm| (int16) first exceeds the threshold after enough quiet."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > ONSET_THRESHOLD * 32767)
    quiet = int(QUIET_BEFORE_ONSET * RATE)
    onsets, previous = [], None
    for index in loud:
        if previous is None or index - previous >= quiet:
            # The first loud sample also needs quiet before it (not the stream start
            # mid-burst).
            if index >= quiet or previous is not None:
                onsets.append(int(index))
        previous = index
    return onsets


def marker_onsets(pcm: np.ndarray) -> list[tuple[int, int]]:
    """(sample index, tag) of every marker heard in int16 PCM: an onset whose burst has
    a marker's frequency."""
    found = []
    for onset in find_onsets(pcm):
        tag = tag_of_frequency(burst_frequency(pcm, onset))
        if tag is not None:
            found.append((onset, tag))
    return found


@dataclass
class MarkerTrain:
    """Silence with `count` short tone bursts, `period` seconds apart, from `delay`.

    Use `source` as a SyntheticTrack's sample function and `on_frame` as its hook: the
    wall time each marker's first sample was handed to the encoder lands in `sent`.
    """

    count: int
    period: float = 1.0
    delay: float = 2.0
    burst: float = MARKER_SECONDS
    sent: dict[int, float] = field(default_factory=dict)

    def first_sample(self, i: int) -> int:
        # Whole ticks, so a marker starts exactly at a frame's first sample.
        tick = limits.TICK_SAMPLES
        return round((self.delay + i * self.period) * RATE / tick) * tick

    def source(self, start: int, count: int) -> np.ndarray:
        out = np.zeros(count, np.int16)
        burst = int(self.burst * RATE)
        for i in range(self.count):
            m = self.first_sample(i)
            lo, hi = max(start, m), min(start + count, m + burst)
            if lo < hi:
                out[lo - start : hi - start] = marker_burst(i, lo - m, hi - lo)
        return out

    def on_frame(self, first: int, wall: float) -> None:
        for i in range(self.count):
            m = self.first_sample(i)
            if first <= m < first + limits.TICK_SAMPLES:
                self.sent[i] = wall + (m - first) / RATE

    def match(self, onset_wall: float, tag: int) -> tuple[int, float] | None:
        """(marker index, latency) of the newest marker with this tag sent before the
        onset, or None."""
        candidates = [
            (i, onset_wall - t)
            for i, t in self.sent.items()
            if i % len(TAG_FREQUENCIES) == tag and t < onset_wall
        ]
        return min(candidates, key=lambda c: c[1]) if candidates else None

    @property
    def last_sent(self) -> float | None:
        return self.sent.get(self.count - 1)
