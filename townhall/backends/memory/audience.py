"""The single-node audience counter (the method: townhall/backends/audience.py)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from townhall.backends.audience import CONCURRENT_WINDOW, MIN_BEACON_GAP

# Player ids remembered per Space for the unique count on one node (~100 MB at the
# bound); past it new ids still count, as an estimate. A cluster uses Redis instead.
MAX_TRACKED_SESSIONS = 2_000_000


@dataclass
class AudienceCounter:
    # Session -> last beacon time, oldest first: expiring the window is popping from the
    # front, so a beacon costs O(1) however large the audience.
    last_beat: OrderedDict[str, float] = field(default_factory=OrderedDict)
    seen: set[str] = field(default_factory=set)  # for uniques, bounded
    unique: int = 0
    peak: int = 0
    joins_per_minute: dict[int, int] = field(default_factory=dict)  # minute start -> joins
    samples: list[tuple[float, int]] = field(default_factory=list)  # (time, concurrent)
    # Who is listening now: signed-in people by user id, anonymous players by session,
    # each -> last beacon time, oldest first (expired like last_beat).
    people: OrderedDict[int, float] = field(default_factory=OrderedDict)
    anonymous: OrderedDict[str, float] = field(default_factory=OrderedDict)

    def beat(self, session: str, now: float, user_id: int | None = None) -> bool:
        """Count a beacon; False if it came too soon after the last one."""
        previous = self.last_beat.get(session)
        if previous is not None and now - previous < MIN_BEACON_GAP:
            return False
        if user_id is not None:
            self.people[user_id] = now
            self.people.move_to_end(user_id)
        else:
            self.anonymous[session] = now
            self.anonymous.move_to_end(session)
        if session not in self.seen:
            # First sight of this player: a join and a unique listener. Past the memory
            # bound, new ids are counted but not remembered (uniques become an estimate).
            self.unique += 1
            minute = int(now // 60 * 60)
            self.joins_per_minute[minute] = self.joins_per_minute.get(minute, 0) + 1
            if len(self.seen) < MAX_TRACKED_SESSIONS:
                self.seen.add(session)
        self.last_beat[session] = now
        self.last_beat.move_to_end(session)
        self.peak = max(self.peak, self.concurrent(now))
        return True

    def concurrent(self, now: float) -> int:
        since = now - CONCURRENT_WINDOW
        while self.last_beat and next(iter(self.last_beat.values())) < since:
            self.last_beat.popitem(last=False)
        return len(self.last_beat)

    def listening(self, now: float, limit: int,
                  leave_out: frozenset[int] = frozenset()) -> tuple[list[int], int]:
        """Up to `limit` signed-in people listening now (latest first, none of
        `leave_out`) and the number of anonymous players."""
        since = now - CONCURRENT_WINDOW
        for present in (self.people, self.anonymous):
            while present and next(iter(present.values())) < since:
                present.popitem(last=False)
        people: list[int] = []
        for user_id in reversed(self.people):
            if len(people) >= limit:
                break
            if user_id not in leave_out:
                people.append(user_id)
        return people, len(self.anonymous)

    def sample(self, now: float) -> int:
        """Record the concurrent count for the plot."""
        count = self.concurrent(now)
        self.samples.append((now, count))
        self.peak = max(self.peak, count)
        return count

    def summary(self, now: float) -> dict[str, object]:
        return {
            "concurrent": self.concurrent(now),
            "peak": self.peak,
            "unique": self.unique,
            "samples": [[round(t, 1), n] for t, n in self.samples],
            "joins_per_minute": [[m, n] for m, n in sorted(self.joins_per_minute.items())],
        }

    @classmethod
    def from_summary(cls, data: dict[str, object]) -> AudienceCounter:
        """A finished Space's figures, as stored."""
        counter = cls(unique=int(data.get("unique", 0)), peak=int(data.get("peak", 0)))  # type: ignore[arg-type]
        counter.samples = [(float(t), int(n)) for t, n in data.get("samples", [])]  # type: ignore[union-attr]
        counter.joins_per_minute = {int(m): int(n) for m, n in data.get("joins_per_minute", [])}  # type: ignore[union-attr]
        return counter


def plot_points(samples: list[tuple[float, int]], width: int, height: int) -> str:
    """SVG polyline points for concurrent listeners over time (no plotting library
    needed for one line)."""
    if not samples:
        return ""
    t0, t1 = samples[0][0], samples[-1][0]
    top = max(1, max(n for _, n in samples))
    span = max(t1 - t0, 1e-9)
    return " ".join(
        f"{(t - t0) / span * width:.1f},{height - n / top * height:.1f}" for t, n in samples
    )




class AudienceBook:
    """The audience counters of every Space on air, as summaries (`AudienceCounter.summary`).
    This one keeps them in process; a cluster's (townhall.backends.redis.audience) in Redis."""

    def __init__(self) -> None:
        self._counters: dict[str, AudienceCounter] = {}

    def _counter(self, space_id: str) -> AudienceCounter:
        return self._counters.setdefault(space_id, AudienceCounter())

    def concurrent_now(self, space_id: str, now: float) -> int:
        counter = self._counters.get(space_id)
        return counter.concurrent(now) if counter is not None else 0

    async def beat(self, space_id: str, session: str, now: float,
                   user_id: int | None = None) -> bool:
        return self._counter(space_id).beat(session, now, user_id)

    async def playing(self, space_id: str, session: str, now: float) -> bool:
        counter = self._counters.get(space_id)
        last = counter.last_beat.get(session) if counter is not None else None
        return last is not None and now - last <= CONCURRENT_WINDOW

    async def listening(self, space_id: str, now: float, limit: int,
                        leave_out: frozenset[int] = frozenset()) -> tuple[list[int], int]:
        counter = self._counters.get(space_id)
        return counter.listening(now, limit, leave_out) if counter is not None else ([], 0)

    async def sample(self, space_id: str, now: float) -> None:
        self._counter(space_id).sample(now)

    async def summary(self, space_id: str, now: float) -> dict[str, object]:
        return self._counter(space_id).summary(now)

    async def headline(self, space_id: str, now: float) -> tuple[int, int, int]:
        """(concurrent, peak, unique): what live clients are sent every few seconds."""
        counter = self._counter(space_id)
        concurrent = counter.concurrent(now)
        return concurrent, max(counter.peak, concurrent), counter.unique

    async def finish(self, space_id: str, now: float) -> dict[str, object]:
        """The final figures of a Space that went off air; the counter is dropped."""
        counter = self._counters.pop(space_id, None) or AudienceCounter()
        counter.sample(now)
        return counter.summary(now)
