"""townhall/testing/audio.py: the one audio analysis of the tests and benchmarks."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from townhall.testing.audio import (
    RATE,
    TAG_FREQUENCIES,
    MarkerTrain,
    band_level_db,
    band_power_db,
    dominant_frequency,
    marker_onsets,
    rms,
    write_wav,
)
from townhall.tools.clients.whip import sine


def test_frequency_and_levels_read_int16_and_float_alike() -> None:
    pcm = sine(440, 0.5)(0, RATE) + sine(880, 0.05)(0, RATE)
    floats = pcm / 32768.0
    assert dominant_frequency(pcm) == dominant_frequency(floats) == 440
    assert dominant_frequency(floats[::2], rate=RATE // 2) == 440
    assert band_level_db(pcm, 440) > -1 and -25 < band_level_db(pcm, 880) < -15
    assert band_level_db(pcm, 1320) < -60
    assert rms(pcm) == pytest.approx(rms(floats)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
    assert rms(pcm[:0]) == 0.0
    # Absolute: 20 dB quieter is 20 dB less, whatever else is in the signal.
    assert band_power_db(floats * 0.1, 440) == pytest.approx(band_power_db(floats, 440) - 20)


def test_a_marker_train_is_found_again_tag_by_tag() -> None:
    markers = MarkerTrain(count=12, period=0.5, delay=1.0)
    pcm = markers.source(0, int(8 * RATE))
    found = marker_onsets(pcm)
    assert [tag for _, tag in found] == [i % len(TAG_FREQUENCIES) for i in range(12)]
    # An onset is the first sample past the threshold: within the burst's first cycle.
    for i, (onset, _) in enumerate(found):
        assert 0 <= onset - markers.first_sample(i) < RATE / TAG_FREQUENCIES[-1]
    markers.sent = {0: 10.0, 10: 15.0}  # tag 0 twice: the newest sent before wins
    assert markers.match(15.25, 0) == (10, 0.25) and markers.match(10.1, 1) is None


def test_write_wav_is_mono_16_bit(tmp_path: Path) -> None:
    pcm = sine(1000)(0, 4800)
    with wave.open(str(write_wav(tmp_path / "tone.wav", pcm))) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, RATE)
        assert np.array_equal(np.frombuffer(wav.readframes(4800), "<i2"), pcm)
