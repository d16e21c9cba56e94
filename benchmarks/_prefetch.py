"""Experiment knob: aiortc's audio jitter buffer waits for `prefetch` frames.

aiortc 1.16 builds every audio receiver with JitterBuffer(capacity=16, prefetch=4): a
frame is released only once 4 later frames have arrived, i.e. 80 ms of buffering per
aiortc receiver whatever the network jitter. Townhall's server uses
limits.AIORTC_AUDIO_PREFETCH (1) instead; this module overrides that for experiments
(e.g. 4 measures aiortc's default). Used by the benchmarks only.

Run as a module, it starts `townhall` with the patch applied:

    TOWNHALL_BENCH_AUDIO_PREFETCH=1 python -m benchmarks._prefetch serve --port ...
"""

from __future__ import annotations

import os

from townhall.media.webrtc.aiortc_tuning import set_audio_prefetch

ENV = "TOWNHALL_BENCH_AUDIO_PREFETCH"
AIORTC_DEFAULT = 4


if __name__ == "__main__":
    from townhall.cli import main

    if os.environ.get(ENV):
        # Services.create sets limits.AIORTC_AUDIO_PREFETCH; override the constant it reads.
        from townhall import limits

        limits.AIORTC_AUDIO_PREFETCH = int(os.environ[ENV])
        set_audio_prefetch(limits.AIORTC_AUDIO_PREFETCH)
    main()
