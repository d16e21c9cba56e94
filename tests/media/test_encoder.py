"""The encoder's parts are whole, back-to-back fMP4 fragments that decode to the input."""

import numpy as np

from townhall.testing.audio import dominant_frequency
from townhall import limits
from townhall.tools.clients.hls import decode_fmp4
from townhall.media.encoder import AacPartEncoder
from townhall.media.sources import tone


def test_parts_are_contiguous_and_decode_to_the_tone() -> None:
    encoder = AacPartEncoder()
    signal = tone(1000, 3.0)
    parts = []
    for start in range(0, signal.shape[0], limits.TICK_SAMPLES):
        parts += encoder.encode(signal[start : start + limits.TICK_SAMPLES])
    parts += encoder.close()
    assert encoder.init_segment is not None
    part_samples = limits.AAC_FRAMES_PER_PART * limits.AAC_FRAME_SAMPLES
    assert all(p.samples == part_samples for p in parts[:-1])
    assert all(b.start == a.start + a.samples for a, b in zip(parts, parts[1:]))
    assert parts[0].start == 0
    pcm, frames = decode_fmp4(encoder.init_segment + b"".join(p.data for p in parts))
    # AAC adds encoder delay and pads the last frame: at most two frames more.
    assert abs(pcm.shape[0] - signal.shape[0]) <= 2 * limits.AAC_FRAME_SAMPLES
    assert abs(dominant_frequency(pcm) - 1000) <= 5
    # Any single part decodes on its own after the init segment (INDEPENDENT=YES).
    _, alone = decode_fmp4(encoder.init_segment + parts[5].data)
    assert len(alone) == limits.AAC_FRAMES_PER_PART
    assert np.abs(pcm[limits.SAMPLE_RATE : 2 * limits.SAMPLE_RATE]).max() > 5000


def test_held_back_ticks_give_the_same_parts_at_the_same_ticks() -> None:
    """A Space with nobody on stage holds its ticks back (hold=True) and encodes them
    together: not one part later (its latency), and the very same bytes."""
    signal = tone(440, 6.0)
    held, every = AacPartEncoder(), AacPartEncoder()
    out: dict[str, list[tuple[int, int, bytes]]] = {"held": [], "every": []}
    for tick, start in enumerate(range(0, signal.shape[0], limits.TICK_SAMPLES)):
        pcm = signal[start : start + limits.TICK_SAMPLES]
        out["held"] += [(tick, p.start, p.data) for p in held.encode(pcm, hold=True)]
        out["every"] += [(tick, p.start, p.data) for p in every.encode(pcm)]
    assert len(out["every"]) >= 20
    assert out["held"] == out["every"]
    assert [p.data for p in held.close()] == [p.data for p in every.close()]
