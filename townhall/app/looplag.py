"""Event-loop lag: how late a task that sleeps LAG_INTERVAL wakes up.

The event loop carries WebRTC and blocking LL-HLS playlist reloads, so nothing on it
may block. A task sleeps LAG_INTERVAL over and over; whatever holds the loop (a
synchronous database call, file I/O, hashing in a coroutine) makes it wake late by about
as long. Each lateness is recorded (the largest since start, the largest over the last
RECENT_WINDOW, a histogram) and one over STALL_THRESHOLD is a stall: counted, and
logged as a warning naming how long the loop was held. /metrics exposes the figures
(townhall.app.metrics).

The figures are read from other threads (/metrics is a plain `def` route, run in the
threadpool): `snapshot()` takes them under a lock that the loop holds only for the few
instructions of one record.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

# The monitor wakes this often: a stall shorter than this may go unseen.
LAG_INTERVAL = 0.05
# Waking later than this is a stall: counted and logged as a warning.
STALL_THRESHOLD = 0.1
# "Recent" maximum: the largest lateness within this many seconds.
RECENT_WINDOW = 60.0
# Histogram upper bounds (seconds); the last bucket is +Inf.
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class LagSnapshot:
    max_seconds: float  # the largest lateness since start
    recent_max_seconds: float  # the largest within the last RECENT_WINDOW
    last_seconds: float  # the newest
    stalls: int  # latenesses over the threshold
    # Cumulative counts per upper bound (Prometheus `le`), +Inf last.
    buckets: tuple[tuple[float, int], ...]
    sum_seconds: float
    count: int


class LoopLag:
    """`monitor = LoopLag(); monitor.start()` on the running loop, `await monitor.stop()`
    when done; `snapshot()` from any thread."""

    def __init__(
        self,
        interval: float = LAG_INTERVAL,
        threshold: float = STALL_THRESHOLD,
        recent_window: float = RECENT_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.threshold = threshold
        self.recent_window = recent_window
        self._clock = clock
        self._lock = threading.Lock()
        self._max = 0.0
        self._last = 0.0
        self._stalls = 0
        self._counts = [0] * (len(LAG_BUCKETS) + 1)
        self._sum = 0.0
        self._count = 0
        # (time, lateness) with latenesses decreasing from the front: its front is the
        # largest within the window (a sliding-window maximum, O(1) per record).
        self._recent: deque[tuple[float, float]] = deque()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start watching the running loop (a no-op if already watching)."""
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="event-loop-lag")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            self.record(max(0.0, loop.time() - due))

    def record(self, lateness: float) -> None:
        """One wake-up, `lateness` seconds after it was due."""
        now = self._clock()
        with self._lock:
            self._last = lateness
            self._max = max(self._max, lateness)
            self._sum += lateness
            self._count += 1
            self._counts[bisect.bisect_left(LAG_BUCKETS, lateness)] += 1
            while self._recent and self._recent[-1][1] <= lateness:
                self._recent.pop()
            self._recent.append((now, lateness))
            self._expire(now)
            stalled = lateness > self.threshold
            if stalled:
                self._stalls += 1
        if stalled:
            log.warning(
                "event loop blocked: a %.0f ms timer woke %.3f s late (stall threshold %.3f s)",
                self.interval * 1000, lateness, self.threshold,
            )

    def _expire(self, now: float) -> None:
        while self._recent and now - self._recent[0][0] > self.recent_window:
            self._recent.popleft()

    def snapshot(self) -> LagSnapshot:
        now = self._clock()
        with self._lock:
            self._expire(now)
            cumulative, buckets = 0, []
            for bound, count in zip((*LAG_BUCKETS, float("inf")), self._counts):
                cumulative += count
                buckets.append((bound, cumulative))
            return LagSnapshot(
                max_seconds=self._max,
                recent_max_seconds=self._recent[0][1] if self._recent else 0.0,
                last_seconds=self._last,
                stalls=self._stalls,
                buckets=tuple(buckets),
                sum_seconds=self._sum,
                count=self._count,
            )
