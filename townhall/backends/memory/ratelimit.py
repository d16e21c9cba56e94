"""Token buckets keyed by client on this node: a burst, then a steady rate (the twin of
townhall/backends/redis/ratelimit.py; the buckets are townhall/backends/ratelimit.py's)."""

from __future__ import annotations

from townhall.backends.ratelimit import TokenBuckets, TooManyRequests

__all__ = ["RateLimiter", "TooManyRequests"]


class RateLimiter(TokenBuckets):
    async def hit(self, key: str, what: str) -> None:
        self.take(key, what)
