"""Rate limits: a token bucket per key (a client address or an account), a burst then a
steady rate. The twins: memory/ratelimit.py (one node) and redis/ratelimit.py (every
origin of a cluster shares the buckets, so a client spreading its requests over the
origins gets no more than from one)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from townhall.domain.errors import RATE_LIMITED, ClientError


class TooManyRequests(ClientError):
    status = 429
    code = RATE_LIMITED

    def __init__(self, message: str, retry_after: float, limit: str = "") -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))
        self.limit = limit  # what was limited, for metrics


def refusal(what: str, wait: float) -> TooManyRequests:
    return TooManyRequests(f"too many {what}: try again in {math.ceil(wait)} s", wait, what)


class RateLimiter(Protocol):
    burst: int
    per_second: float

    async def hit(self, key: str, what: str) -> None:
        """Take one token for `key`, or raise TooManyRequests (429 with Retry-After);
        `what` names the limit for people ("sign-in attempts") and metrics."""


# Buckets idle this long are forgotten (they are full again by then anyway).
FORGET_AFTER_SECONDS = 600.0
# Sweep forgotten buckets at most this often.
SWEEP_EVERY = 1000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """The buckets themselves, in this process (also the Redis twin's fallback)."""

    def __init__(self, burst: int, per_second: float, clock: Callable[[], float] = time.monotonic):
        self.burst = burst
        self.per_second = per_second
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._calls = 0

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
