"""Which node owns a live Space's media: a lease in Redis with an expiry.

The owner renews it well within the expiry; if the owner dies, the lease lapses and
another node takes the Space over (its mixer continues the same playlist). Every write
is conditional on the holder, so a node that lost its lease cannot renew or drop
someone else's.
"""

from __future__ import annotations

import redis.asyncio as redis

# A dead owner's Spaces are taken over within LEASE_SECONDS + one adoption round; the
# owner renews LEASE_SECONDS / RENEW_FRACTION times per lease.
LEASE_SECONDS = 2.0
RENEW_EVERY = 0.5

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


def _key(space_id: str) -> str:
    return f"townhall:lease:{space_id}"


class MediaLeases:
    def __init__(self, client: redis.Redis, node: str) -> None:
        self._redis = client
        self.node = node  # this node's URL: what a redirect to the owner points at
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    @property
    def _ms(self) -> int:
        return int(LEASE_SECONDS * 1000)

    async def acquire(self, space_id: str) -> bool:
        """Take the lease if nobody holds it (or this node already does)."""
        if await self._redis.set(_key(space_id), self.node, nx=True, px=self._ms):
            return True
        return await self.renew(space_id)

    async def renew(self, space_id: str) -> bool:
        return bool(await self._renew(keys=[_key(space_id)], args=[self.node, self._ms]))

    async def release(self, space_id: str) -> None:
        await self._release(keys=[_key(space_id)], args=[self.node])

    async def owner(self, space_id: str) -> str | None:
        value = await self._redis.get(_key(space_id))
        return value.decode() if value is not None else None

    async def owners(self, space_ids: list[str]) -> dict[str, str | None]:
        """Each Space's owner, in one round trip (MGET)."""
        if not space_ids:
            return {}
        values = await self._redis.mget([_key(s) for s in space_ids])
        return {s: v.decode() if v is not None else None for s, v in zip(space_ids, values)}
