"""Audience figures shared by every origin (same method as townhall/backends/memory/audience.py).

Per Space: a sorted set of player session -> last beacon time (the concurrent window),
a HyperLogLog of session ids (unique listeners, ~0.8 % standard error, 12 KB whatever
the audience), the peak, joins per minute (a hash), the plot samples (a list), and who
is listening now: a sorted set of signed-in user id -> last beacon time and one of
anonymous sessions, both expired with the same window.
A beacon is one Lua script: one round trip, atomic across nodes.
"""

from __future__ import annotations

import json

import redis.asyncio as redis

from townhall.backends.audience import CONCURRENT_WINDOW, MIN_BEACON_GAP

# Figures outlive the Space in Redis only until they are stored in the database.
KEYS_TTL_SECONDS = 7 * 24 * 3600
_PARTS = ("window", "unique", "peak", "joins", "samples", "people", "anonymous")

# KEYS: window unique peak joins people anonymous;
# ARGV: session now min_gap window_seconds ttl user_id ("" when anonymous)
_BEAT = """
local previous = redis.call('zscore', KEYS[1], ARGV[1])
local now = tonumber(ARGV[2])
if previous and now - tonumber(previous) < tonumber(ARGV[3]) then return 0 end
redis.call('zadd', KEYS[1], now, ARGV[1])
redis.call('zremrangebyscore', KEYS[1], '-inf', now - tonumber(ARGV[4]))
if redis.call('pfadd', KEYS[2], ARGV[1]) == 1 then
  redis.call('hincrby', KEYS[4], tostring(math.floor(now / 60) * 60), 1)
end
local concurrent = redis.call('zcard', KEYS[1])
if concurrent > tonumber(redis.call('get', KEYS[3]) or '0') then
  redis.call('set', KEYS[3], concurrent)
end
local present = KEYS[6]
local member = ARGV[1]
if ARGV[6] ~= '' then present = KEYS[5]; member = ARGV[6] end
redis.call('zadd', present, now, member)
redis.call('zremrangebyscore', present, '-inf', now - tonumber(ARGV[4]))
for i = 1, 6 do redis.call('expire', KEYS[i], ARGV[5]) end
return 1
"""
# KEYS: window peak samples; ARGV: now window_seconds ttl -> concurrent
_SAMPLE = """
local now = tonumber(ARGV[1])
redis.call('zremrangebyscore', KEYS[1], '-inf', now - tonumber(ARGV[2]))
local concurrent = redis.call('zcard', KEYS[1])
if concurrent > tonumber(redis.call('get', KEYS[2]) or '0') then
  redis.call('set', KEYS[2], concurrent)
end
redis.call('rpush', KEYS[3], cjson.encode({now, concurrent}))
redis.call('expire', KEYS[3], ARGV[3])
redis.call('expire', KEYS[2], ARGV[3])
return concurrent
"""


def _keys(space_id: str) -> dict[str, str]:
    return {part: f"townhall:audience:{space_id}:{part}" for part in _PARTS}


class RedisAudienceBook:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._beat = client.register_script(_BEAT)
        self._sample = client.register_script(_SAMPLE)

    async def beat(self, space_id: str, session: str, now: float,
                   user_id: int | None = None) -> bool:
        k = _keys(space_id)
        added = await self._beat(
            keys=[k["window"], k["unique"], k["peak"], k["joins"], k["people"], k["anonymous"]],
            args=[session, now, MIN_BEACON_GAP, CONCURRENT_WINDOW, KEYS_TTL_SECONDS,
                  "" if user_id is None else str(user_id)],
        )
        return bool(added)

    async def playing(self, space_id: str, session: str, now: float) -> bool:
        last = await self._redis.zscore(_keys(space_id)["window"], session)
        return last is not None and now - float(last) <= CONCURRENT_WINDOW

    async def listening(self, space_id: str, now: float, limit: int,
                        leave_out: frozenset[int] = frozenset()) -> tuple[list[int], int]:
        """One round trip: the newest limit + len(leave_out) people in the window (enough
        to fill `limit` whoever is left out), and the anonymous players in it."""
        k = _keys(space_id)
        since = now - CONCURRENT_WINDOW
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrevrangebyscore(k["people"], "+inf", since, start=0,
                                  num=limit + len(leave_out))
            pipe.zcount(k["anonymous"], since, "+inf")
            newest, anonymous = await pipe.execute()
        people = [int(m) for m in newest if int(m) not in leave_out]
        return people[:limit], int(anonymous)

    async def sample(self, space_id: str, now: float) -> None:
        k = _keys(space_id)
        await self._sample(keys=[k["window"], k["peak"], k["samples"]],
                           args=[now, CONCURRENT_WINDOW, KEYS_TTL_SECONDS])

    async def summary(self, space_id: str, now: float) -> dict[str, object]:
        k = _keys(space_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zcount(k["window"], now - CONCURRENT_WINDOW, "+inf")
            pipe.get(k["peak"])
            pipe.pfcount(k["unique"])
            pipe.lrange(k["samples"], 0, -1)
            pipe.hgetall(k["joins"])
            concurrent, peak, unique, samples, joins = await pipe.execute()
        points = [json.loads(s) for s in samples]
        return {
            "concurrent": concurrent,
            "peak": max(int(peak or 0), concurrent),
            "unique": unique,
            "samples": [[round(float(t), 1), int(n)] for t, n in points],
            "joins_per_minute": sorted([int(m), int(n)] for m, n in joins.items()),
        }

    async def headline(self, space_id: str, now: float) -> tuple[int, int, int]:
        """(concurrent, peak, unique) without the plot series: sent to live clients
        every few seconds, so it must not grow with the Space's length."""
        k = _keys(space_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zcount(k["window"], now - CONCURRENT_WINDOW, "+inf")
            pipe.get(k["peak"])
            pipe.pfcount(k["unique"])
            concurrent, peak, unique = await pipe.execute()
        return concurrent, max(int(peak or 0), concurrent), unique

    async def finish(self, space_id: str, now: float) -> dict[str, object]:
        await self.sample(space_id, now)
        figures = await self.summary(space_id, now)
        await self._redis.delete(*_keys(space_id).values())
        return figures
