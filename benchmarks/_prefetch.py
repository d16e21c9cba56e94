"""Experiment knob: aiortc's audio jitter buffer waits for `prefetch` frames.

aiortc 1.16 builds every audio receiver with JitterBuffer(capacity=16, prefetch=4): a
frame is released only once 4 later frames have arrived, i.e. 80 ms of buffering per
aiortc receiver whatever the network jitter. On loopback that is pure delay. This
module swaps the class aiortc's receiver uses, to measure what a smaller prefetch
would save. It changes nothing in Townhall; used by the benchmarks only.

Run as a module, it starts `townhall` with the patch applied:

    TOWNHALL_BENCH_AUDIO_PREFETCH=1 python -m benchmarks._prefetch serve --port ...
"""

from __future__ import annotations

import os

import aiortc.rtcrtpreceiver
from aiortc.jitterbuffer import JitterBuffer

ENV = "TOWNHALL_BENCH_AUDIO_PREFETCH"
AIORTC_DEFAULT = 4


def set_audio_prefetch(audio_prefetch: int) -> None:
    """Audio receivers created from now on in this process use `audio_prefetch`."""

    class AudioPrefetch(JitterBuffer):
        def __init__(self, capacity: int, prefetch: int = 0, is_video: bool = False) -> None:
            super().__init__(capacity, prefetch if is_video else audio_prefetch, is_video)

    aiortc.rtcrtpreceiver.JitterBuffer = AudioPrefetch  # type: ignore[misc]


if __name__ == "__main__":
    from townhall.cli import main

    if os.environ.get(ENV):
        set_audio_prefetch(int(os.environ[ENV]))
    main()
