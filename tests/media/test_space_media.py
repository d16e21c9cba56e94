"""The program-date-time stays true to the wall clock even when the mixer stalls."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import m3u8

from townhall import limits
from townhall.backends.memory.segments import MemorySegmentStore
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


async def test_a_resumed_space_never_reuses_a_media_name(tmp_path: Path) -> None:
    """After a crash, parts of the segment after the last recorded one may be in edge
    caches (immutable): the resumed run starts one segment later, and the replay marks
    the new run."""
    from townhall.media.recorder import recorded_segments, replay_playlist

    store = MemorySegmentStore()
    first = SpaceMedia("resume", store, tmp_path)
    await first.start()
    first.add_source("silence", StallingSource(stall_at_tick=-1, seconds=0))
    assert await store.wait_for("resume", 1, 2, timeout=20) is not None
    published = {name for names in first._names_by_msn.values() for name in names}
    await first.abandon()  # like a crash: segment 1 is unfinished, 0 is recorded
    assert [s[0] for s in recorded_segments(tmp_path)] == [0]
    assert any(name.startswith("seg1.") for name in published)

    second = SpaceMedia("resume", MemorySegmentStore(), tmp_path)
    await second.start()
    try:
        second.add_source("silence", StallingSource(stall_at_tick=-1, seconds=0))
        assert await second.store.wait_for("resume", 2, 0, timeout=20) is not None
        assert second.playlist.segments[0].msn == 2
    finally:
        await second.stop()
    replay = replay_playlist(tmp_path, 2)
    assert replay is not None
    assert [s.discontinuity for s in m3u8.loads(replay).segments].count(True) == 1


async def test_a_waiting_room_restarted_never_reuses_a_media_name(tmp_path: Path) -> None:
    """A waiting room records nothing, yet its parts may be cached at the edge: after a
    restart its stream goes on after the newest segment it began."""
    store = MemorySegmentStore()
    first = SpaceMedia("waiting", store, tmp_path, recording=False)
    await first.start()
    first.add_source("silence", StallingSource(stall_at_tick=-1, seconds=0))
    assert await store.wait_for("waiting", 1, 0, timeout=20) is not None
    await first.abandon()
    began = max(first._names_by_msn)
    second = SpaceMedia("waiting", MemorySegmentStore(), tmp_path, recording=False)
    await second.start()
    try:
        second.add_source("silence", StallingSource(stall_at_tick=-1, seconds=0))
        assert await second.store.wait_for("waiting", began + 1, 0, timeout=20) is not None
        assert second.playlist.segments[0].msn == began + 1
    finally:
        await second.stop()
