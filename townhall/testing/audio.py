"""Audio checks by content: which frequencies are in a signal, and how strongly."""

from __future__ import annotations

import numpy as np

from townhall import limits


def spectrum(pcm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = pcm.astype(np.float64) * np.hanning(pcm.shape[0])
    magnitude = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(pcm.shape[0], 1 / limits.SAMPLE_RATE)
    return freqs, magnitude


def dominant_frequency(pcm: np.ndarray) -> float:
    freqs, magnitude = spectrum(pcm)
    magnitude[freqs < 50] = 0  # ignore DC and rumble
    return float(freqs[int(np.argmax(magnitude))])


def band_level_db(pcm: np.ndarray, frequency: float, width: float = 15.0) -> float:
    """Energy near `frequency` relative to the whole signal's energy, in dB."""
    freqs, magnitude = spectrum(pcm)
    power = magnitude**2
    band = power[np.abs(freqs - frequency) <= width].sum()
    return float(10 * np.log10(band / max(power.sum(), 1e-12) + 1e-12))


def rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(pcm.astype(np.float64) / 32768.0)))) if pcm.size else 0.0
