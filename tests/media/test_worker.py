"""The mixer's clock (townhall/media/worker.py): with nobody on stage it sleeps until the
tick that completes an LL-HLS part and runs the ticks before it together; a speaker
coming on stage wakes it, and from then on it ticks every 20 ms again."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np

from townhall import limits
from townhall.media.worker import MixerWorker

PART_TICKS = limits.AAC_FRAMES_PER_PART * limits.AAC_FRAME_SAMPLES / limits.TICK_SAMPLES


class CountedEvent(threading.Event):
    """The clock's sleep, counted: one wait() is one wake-up of the mixer thread."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0
        self.woken = 0  # waits ended by set() before their time

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        woken = super().wait(timeout)
        self.woken += woken
        return woken


class Tone:
    """A speaker's buffer: a 440 Hz tick on every pull, each pull counted."""

    def __init__(self) -> None:
        self.pulls = 0
        self.first_pull = threading.Event()
        self.first_pull_at = 0.0

    def pull(self) -> np.ndarray:
        self.pulls += 1
        if not self.first_pull.is_set():
            self.first_pull_at = time.monotonic()
            self.first_pull.set()
        t = np.arange(limits.TICK_SAMPLES) / limits.SAMPLE_RATE
        return (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)


async def test_an_idle_clock_wakes_once_a_part_and_a_speaker_wakes_it_at_once() -> None:
    loop = asyncio.get_running_loop()
    parts: asyncio.Queue = asyncio.Queue()  # (part, when it came out)
    worker = MixerWorker(loop, on_mix_minus=lambda out: None,
                         on_parts=lambda done: [parts.put_nowait((p, time.monotonic()))
                                                for p in done])
    sleep = worker._wake = CountedEvent()
    worker.start()
    try:
        idle = [(await asyncio.wait_for(parts.get(), 10))[0] for _ in range(4)]
        # The same parts as ticking every 20 ms: back to back, a whole part each.
        assert [p.start for p in idle] == [k * idle[0].samples for k in range(4)]
        assert idle[0].samples == PART_TICKS * limits.TICK_SAMPLES
        idle_waits, idle_ticks = sleep.waits, worker.ticks
        assert idle_ticks >= 4 * PART_TICKS - 1
        assert idle_waits <= 4 + 2, f"{idle_waits} wake-ups for {idle_ticks} idle ticks"

        # Someone comes on stage just after a part: the clock wakes for them at once
        # (their buffer keeps only the newest few ticks: a clock asleep until the
        # part's end would lose their first words), and ticks every 20 ms from then.
        speaker = Tone()
        added_at = time.monotonic()
        worker.add_source("host", speaker, wants_mix_minus=False)
        waits_when_added = sleep.waits
        await asyncio.wait_for(loop.run_in_executor(None, speaker.first_pull.wait, 10), 15)
        assert sleep.woken == 1
        # Pulled within half a part (asleep, the clock would come ~a part later).
        half_part = PART_TICKS * limits.TICK_SAMPLES / limits.SAMPLE_RATE / 2
        assert speaker.first_pull_at - added_at < half_part
        heard, _ = await asyncio.wait_for(parts.get(), 10)
        assert heard.start == idle[-1].start + idle[0].samples
        while heard.start < idle[-1].start + 2 * idle[0].samples:  # a whole part with them
            heard, _ = await asyncio.wait_for(parts.get(), 10)
        assert sleep.waits - waits_when_added >= PART_TICKS / 2, "the clock kept sleeping"
        assert speaker.pulls >= PART_TICKS
    finally:
        await asyncio.to_thread(worker.stop)
    assert not worker._thread.is_alive()
