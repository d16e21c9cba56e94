"""Rate limits: a token bucket per key (a client address or an account), a burst then a
steady rate. The twins: memory/ratelimit.py (one node) and redis/ratelimit.py (every
origin of a cluster shares the buckets, so a client spreading its requests over the
origins gets no more than from one)."""

from __future__ import annotations

import math
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
