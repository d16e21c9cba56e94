"""The incident timeline's tallies shared by a cluster's origins (same protocol as
townhall/backends/memory/incidents.py; method in townhall/domain/incidents.py).

Per Space: a sorted set of bucket starts (the index, at most TIMELINE_MAX_BUCKETS), and
per bucket a hash of counters (HINCRBY: every origin's counts add up), a sorted set of
client networks -> requests (at most TIMELINE_MAX_NETWORKS; requests from newcomers past
it go to the `others` counter, as on one node), and two capped lists of samples (time to
first audio, media answer times). An origin's tally is one Lua script: one round trip,
atomic. Keys expire a week after the last add, like the audience figures.
"""

from __future__ import annotations

import json

import redis.asyncio as redis

from townhall import limits
from townhall.domain.incidents import Tally

KEYS_TTL_SECONDS = 7 * 24 * 3600
_COUNTERS = ("requests", "others", "join_attempts", "join_successes", "ttfa_seen",
             "answers_seen", "cache_hits", "cache_lookups", "mixer_ticks", "mixer_late",
             "backend_failures")

# KEYS: index bucket networks ttfa answers; ARGV: payload(json) ttl max_networks
# max_samples max_buckets
_ADD = """
local t = cjson.decode(ARGV[1])
local ttl, max_networks = tonumber(ARGV[2]), tonumber(ARGV[3])
local max_samples, max_buckets = tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('zadd', KEYS[1], t.start, t.key)
for name, n in pairs(t.counters) do
  if n ~= 0 then redis.call('hincrby', KEYS[2], name, n) end
end
for name, n in pairs(t.statuses) do
  if name ~= '_' then redis.call('hincrby', KEYS[2], 'status:' .. name, n) end
end
for name, n in pairs(t.refused) do
  if name ~= '_' then redis.call('hincrby', KEYS[2], 'refused:' .. name, n) end
end
if t.cpu_seconds > 0 then redis.call('hincrbyfloat', KEYS[2], 'cpu_seconds', t.cpu_seconds) end
local wall = tonumber(redis.call('hget', KEYS[2], 'cpu_wall') or '0')
if t.cpu_wall > wall then redis.call('hset', KEYS[2], 'cpu_wall', t.cpu_wall) end
if t.edge then redis.call('hset', KEYS[2], 'edge', 1) end
if t.sealed_top > 0 then redis.call('hincrby', KEYS[2], 'sealed_top', t.sealed_top) end
local sealed = tonumber(redis.call('hget', KEYS[2], 'sealed_networks') or '0')
if t.sealed_networks > sealed then redis.call('hset', KEYS[2], 'sealed_networks', t.sealed_networks) end
local others = 0
local count = redis.call('zcard', KEYS[3])
for network, n in pairs(t.networks) do
  if network == '_' then
  elseif redis.call('zscore', KEYS[3], network) then
    redis.call('zincrby', KEYS[3], n, network)
  elseif count < max_networks then
    redis.call('zincrby', KEYS[3], n, network)
    count = count + 1
  else
    others = others + n
  end
end
if others > 0 then redis.call('hincrby', KEYS[2], 'others', others) end
for _, v in ipairs(t.ttfa) do redis.call('rpush', KEYS[4], v) end
redis.call('ltrim', KEYS[4], -max_samples, -1)
for _, v in ipairs(t.answers) do redis.call('rpush', KEYS[5], v) end
redis.call('ltrim', KEYS[5], -max_samples, -1)
local extra = redis.call('zcard', KEYS[1]) - max_buckets
if extra > 0 then redis.call('zremrangebyrank', KEYS[1], 0, extra - 1) end
for i = 1, 5 do redis.call('expire', KEYS[i], ttl) end
return 1
"""


def _index(space_id: str) -> str:
    return f"townhall:incidents:{space_id}"


def _bucket_keys(space_id: str, key: str) -> list[str]:
    base = f"townhall:incidents:{space_id}:{key}"
    return [base, f"{base}:networks", f"{base}:ttfa", f"{base}:answers"]


def _key(start: float) -> str:
    return f"{start:.3f}"


class RedisIncidentBook:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._add = client.register_script(_ADD)

    async def add(self, space_id: str, tally: Tally) -> None:
        key = _key(tally.start)
        payload = {
            "start": tally.start, "key": key,
            "counters": {name: getattr(tally, name) for name in _COUNTERS},
            # cjson turns an empty table into an object: never an empty list for a map
            "statuses": tally.statuses or {"_": 0}, "refused": tally.refused or {"_": 0},
            "networks": tally.networks or {"_": 0}, "cpu_seconds": tally.cpu_seconds,
            "cpu_wall": tally.cpu_wall, "edge": tally.edge,
            "sealed_top": tally.sealed_top if tally.sealed else 0,
            "sealed_networks": tally.sealed_networks if tally.sealed else 0,
            "ttfa": tally.ttfa[:limits.TIMELINE_MAX_TTFA_SAMPLES],
            "answers": tally.answer_times[:limits.TIMELINE_MAX_TTFA_SAMPLES],
        }
        await self._add(keys=[_index(space_id), *_bucket_keys(space_id, key)],
                        args=[json.dumps(payload), KEYS_TTL_SECONDS,
                              limits.TIMELINE_MAX_NETWORKS, limits.TIMELINE_MAX_TTFA_SAMPLES,
                              limits.TIMELINE_MAX_BUCKETS])

    async def tallies(self, space_id: str) -> list[Tally]:
        keys = [k.decode() if isinstance(k, bytes) else str(k)
                for k in await self._redis.zrange(_index(space_id), 0, -1)]
        if not keys:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                bucket, networks, ttfa, answers = _bucket_keys(space_id, key)
                pipe.hgetall(bucket)
                pipe.zcard(networks)
                pipe.zrevrange(networks, 0, limits.TIMELINE_TOP_NETWORKS - 1, withscores=True)
                pipe.lrange(ttfa, 0, -1)
                pipe.lrange(answers, 0, -1)
            results = await pipe.execute()
        tallies = []
        for i, key in enumerate(keys):
            fields, distinct, top, ttfa, answers = results[5 * i:5 * i + 5]
            tallies.append(_tally(float(key), fields, distinct, top, ttfa, answers))
        return tallies

    async def finish(self, space_id: str) -> list[Tally]:
        tallies = await self.tallies(space_id)
        keys = [_index(space_id)]
        for tally in tallies:
            keys += _bucket_keys(space_id, _key(tally.start))
        await self._redis.delete(*keys)
        return tallies


def _tally(start: float, fields: dict, distinct: int, top: list, ttfa: list,  # type: ignore[type-arg]
           answers: list) -> Tally:  # type: ignore[type-arg]
    data = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in fields.items()}
    tally = Tally(start=start)
    for name in _COUNTERS:
        setattr(tally, name, int(data.get(name, 0)))
    for name, value in data.items():
        if name.startswith("status:"):
            tally.statuses[name[7:]] = int(value)
        elif name.startswith("refused:"):
            tally.refused[name[8:]] = int(value)
    tally.cpu_seconds = float(data.get("cpu_seconds", 0))
    tally.cpu_wall = float(data.get("cpu_wall", 0))
    tally.edge = bool(data.get("edge"))
    tally.sealed = True
    tally.sealed_networks = max(int(distinct), int(data.get("sealed_networks", 0)))
    tally.sealed_top = sum(int(score) for _, score in top) + int(data.get("sealed_top", 0))
    tally.ttfa = [float(v) for v in ttfa]
    tally.answer_times = [float(v) for v in answers]
    return tally
