"""How much mixing room each node of a cluster has left, so a full node can hand a
go-live to one that has room instead of refusing it.

Every node reports its free share of a core (budget minus what it mixes) with its lease
renewals; a report expires with the lease time, so a dead node is never chosen. The
figures are a hint: the chosen node still admits (or refuses) the go-live itself.
"""

from __future__ import annotations

import redis.asyncio as redis

from townhall.backends.redis.leases import LEASE_SECONDS

NODES_KEY = "townhall:nodes"


def _key(node: str) -> str:
    return f"townhall:room:{node}"


class NodeRoom:
    def __init__(self, client: redis.Redis, node: str) -> None:
        self._redis = client
        self.node = node

    async def report(self, free: float) -> None:
        """This node has `free` of a core left to mix with (until the next report)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.sadd(NODES_KEY, self.node)
            pipe.set(_key(self.node), repr(free), px=int(LEASE_SECONDS * 1000))
            await pipe.execute()

    async def with_room(self, need: float) -> str | None:
        """Another live node with at least `need` free (the one with most), or None."""
        nodes = sorted(n.decode() for n in await self._redis.smembers(NODES_KEY))
        others = [n for n in nodes if n != self.node]
        if not others:
            return None
        values = await self._redis.mget([_key(n) for n in others])
        gone = [n for n, v in zip(others, values) if v is None]
        if gone:  # stopped or dead: their reports expired
            await self._redis.srem(NODES_KEY, *gone)
        free = {n: float(v) for n, v in zip(others, values) if v is not None}
        best = max(free, key=free.__getitem__, default=None)
        return best if best is not None and free[best] >= need - 1e-9 else None
