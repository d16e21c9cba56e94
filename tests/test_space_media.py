"""The program-date-time stays true to the wall clock even when the mixer stalls."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from townhall import limits
from townhall.media.segment_store import MemorySegmentStore
from townhall.media.space_media import SpaceMedia


class StallingSource:
    """A source that blocks the mixer thread once, like a machine starved of CPU."""

    def __init__(self, stall_at_tick: int, seconds: float) -> None:
        self.calls = 0
        self.stall_at_tick = stall_at_tick
        self.seconds = seconds

    def pull(self) -> np.ndarray:
        self.calls += 1
        if self.calls == self.stall_at_tick:
            time.sleep(self.seconds)
        return np.zeros(limits.TICK_SAMPLES, np.int16)


async def test_program_date_time_follows_the_wall_clock_across_a_stall(tmp_path: Path) -> None:
    store = MemorySegmentStore()
    media = SpaceMedia("stall", store, tmp_path)
    await media.start()
    try:
        media.add_source("slow", StallingSource(stall_at_tick=10, seconds=1.5))
        snapshot = await store.wait_for("stall", 1, 3, timeout=20)  # well after the stall
        assert snapshot is not None
        assert media.worker.clock_resets == 1
        assert media.worker.skipped_seconds >= 1.0
        newest = media.playlist.segments[-1]
        end = newest.program_date_time.timestamp() + newest.duration
        # The newest part ends just now (encoder delay), not seconds in the past.
        behind = datetime.now(UTC).timestamp() - end
        assert -0.1 < behind < 0.6, behind
    finally:
        await media.stop()
