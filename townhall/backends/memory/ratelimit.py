"""Token buckets keyed by client on this node: a burst, then a steady rate. Pure apart
from the clock (the twin of townhall/backends/redis/ratelimit.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from townhall.backends.ratelimit import TooManyRequests, refusal

__all__ = ["RateLimiter", "TooManyRequests"]

# Buckets idle this long are forgotten (they are full again by then anyway).
FORGET_AFTER_SECONDS = 600.0
# Sweep forgotten buckets at most this often.
SWEEP_EVERY = 1000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, burst: int, per_second: float, clock: Callable[[], float] = time.monotonic):
        self.burst = burst
        self.per_second = per_second
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._calls = 0

    async def hit(self, key: str, what: str) -> None:
        self.take(key, what)

    def take(self, key: str, what: str) -> None:
        """Take one token for `key`, or raise TooManyRequests with Retry-After."""
        now = self.clock()
        bucket = self._buckets.get(key) or _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.per_second)
        bucket.updated = now
        self._buckets[key] = bucket
        self._calls += 1
        if self._calls % SWEEP_EVERY == 0:
            self._sweep(now)
        if bucket.tokens < 1:
            raise refusal(what, (1 - bucket.tokens) / self.per_second)
        bucket.tokens -= 1

    def _sweep(self, now: float) -> None:
        self._buckets = {
            k: b for k, b in self._buckets.items() if now - b.updated < FORGET_AFTER_SECONDS
        }
