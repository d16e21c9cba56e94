"""Rate limits shared by every origin of a cluster (the twin of
townhall/backends/memory/ratelimit.py): the same token bucket, kept in Redis and taken
in one Lua script, timed by Redis's own clock so the origins' clocks never matter.
While Redis is away each origin counts on its own (the in-process twin): limits hold
per origin instead of per cluster, and nobody is refused for the outage itself."""

from __future__ import annotations

import math

import redis.asyncio as redis
from redis.exceptions import RedisError

from townhall.backends.ratelimit import TokenBuckets, refusal

# KEYS: the bucket (a hash); ARGV: burst per_second ttl -> seconds to wait ("0": taken)
_TAKE = """
local clock = redis.call('time')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local stored = redis.call('hmget', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(stored[1]) or burst
local updated = tonumber(stored[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - updated) * rate)
local wait = 0
if tokens < 1 then wait = (1 - tokens) / rate else tokens = tokens - 1 end
redis.call('hset', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('expire', KEYS[1], ARGV[3])
return tostring(wait)
"""


class RedisRateLimiter:
    def __init__(self, client: redis.Redis, name: str, burst: int, per_second: float) -> None:
        self.name = name
        self.burst = burst
        self.per_second = per_second
        self._take = client.register_script(_TAKE)
        # A bucket untouched this long is full again: Redis may forget it.
        self._ttl = math.ceil(burst / per_second) + 60
        self._local = TokenBuckets(burst, per_second)

    async def hit(self, key: str, what: str) -> None:
        try:
            wait = float(await self._take(keys=[f"townhall:rate:{self.name}:{key}"],
                                          args=[self.burst, self.per_second, self._ttl]))
        except (RedisError, OSError):
            self._local.take(key, what)  # Redis is away: this origin's own count
            return
        if wait > 0:
            raise refusal(what, wait)
