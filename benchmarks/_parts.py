"""Experiment knob: LL-HLS part size, for the cost benchmarks (issue #4).

Townhall ships parts of limits.AAC_FRAMES_PER_PART (12) AAC frames = 0.256 s, 8 per
segment. This launcher starts `townhall` with other values patched into
townhall.limits before the media modules read them, to measure what larger parts
(fewer requests per listener-second) would cost and gain. Townhall is unchanged.

    TOWNHALL_BENCH_PART_FRAMES=24 TOWNHALL_BENCH_PARTS_PER_SEGMENT=4 \
        python -m benchmarks._parts demo --port ...

Likewise LL-DASH chunks (issue #16): TOWNHALL_BENCH_DASH_CHUNK_PARTS=8
TOWNHALL_BENCH_DASH_CHUNKS_PER_SEGMENT=4 makes 2.048 s chunks in 8.192 s segments (the
origin and the DASH load generator must both be patched).
"""

from __future__ import annotations

import os

FRAMES_ENV = "TOWNHALL_BENCH_PART_FRAMES"
PARTS_ENV = "TOWNHALL_BENCH_PARTS_PER_SEGMENT"
DASH_CHUNK_ENV = "TOWNHALL_BENCH_DASH_CHUNK_PARTS"
DASH_CHUNKS_ENV = "TOWNHALL_BENCH_DASH_CHUNKS_PER_SEGMENT"


def patch_limits() -> None:
    from townhall import limits

    if os.environ.get(FRAMES_ENV):
        limits.AAC_FRAMES_PER_PART = int(os.environ[FRAMES_ENV])
    if os.environ.get(PARTS_ENV):
        limits.PARTS_PER_SEGMENT = int(os.environ[PARTS_ENV])
    if os.environ.get(DASH_CHUNK_ENV):
        limits.DASH_PARTS_PER_CHUNK = int(os.environ[DASH_CHUNK_ENV])
    if os.environ.get(DASH_CHUNKS_ENV):
        limits.DASH_CHUNKS_PER_SEGMENT = int(os.environ[DASH_CHUNKS_ENV])


if __name__ == "__main__":
    patch_limits()
    from townhall.cli import main

    main()
