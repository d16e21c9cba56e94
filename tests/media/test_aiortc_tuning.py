"""The vectorised audio level gives aiortc's own answer on every kind of frame."""

from __future__ import annotations

import aiortc.rtp
import av
import numpy as np
import pytest

from townhall.media.webrtc.aiortc_tuning import (
    _AIORTC_AUDIO_LEVEL,
    audio_level_dbov,
    use_fast_audio_level,
)


def frame_of(samples: np.ndarray, layout: str = "mono") -> av.AudioFrame:
    channels = 2 if layout == "stereo" else 1
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout=layout)
    frame.sample_rate = 48000
    assert frame.samples * channels == samples.size
    return frame


@pytest.mark.parametrize("layout", ["mono", "stereo"])
def test_the_level_matches_aiortcs_on_random_tones_noise_and_silence(layout: str) -> None:
    rng = np.random.default_rng(6465)
    size = 960 * (2 if layout == "stereo" else 1)
    t = np.arange(size) / 48000
    cases = [np.zeros(size), np.full(size, 32767), np.full(size, -32768)]
    cases += [rng.integers(-32768, 32768, size) for _ in range(50)]
    cases += [a * np.sin(2 * np.pi * f * t) for a, f in ((1, 440), (30, 1000), (3000, 220),
                                                          (32767, 3000), (0.4, 50))]
    for pcm in cases:
        frame = frame_of(np.asarray(pcm).astype(np.int16), layout)
        assert audio_level_dbov(frame) == _AIORTC_AUDIO_LEVEL(frame)


def test_the_server_installs_it_and_can_restore_aiortcs() -> None:
    try:
        use_fast_audio_level()
        assert aiortc.rtp.compute_audio_level_dbov is audio_level_dbov
    finally:
        use_fast_audio_level(False)
    assert aiortc.rtp.compute_audio_level_dbov is _AIORTC_AUDIO_LEVEL

