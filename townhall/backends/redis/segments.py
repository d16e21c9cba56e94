"""The segment store shared by every origin: objects and playlists in Redis, playlist
changes announced on one pub/sub channel.

Every node keeps a mirror of the newest playlist of each Space, updated from the
channel, so a playlist request or a blocking reload costs no Redis round trip; waiting
for a position is waiting on a local condition that the channel wakes.
"""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as redis

from townhall.backends.redis.pubsub import Subscriber
from townhall.media.llhls import Position
from townhall.media.segment_store import PlaylistSnapshot, SegmentStore

PLAYLIST_CHANNEL = "townhall:playlists"
# Live objects are deleted as they leave the playlist window; this expiry only cleans
# up after an owner that died mid-Space.
OBJECT_TTL_SECONDS = 15 * 60
# An ended playlist stays a day for late players (they move on to the replay).
ENDED_PLAYLIST_TTL_SECONDS = 24 * 3600


def _object_key(space_id: str, name: str) -> str:
    return f"townhall:obj:{space_id}:{name}"


def _playlist_key(space_id: str) -> str:
    return f"townhall:playlist:{space_id}"


def encode_snapshot(space_id: str, snapshot: PlaylistSnapshot) -> bytes:
    position = snapshot.position
    return json.dumps({
        "space": space_id, "text": snapshot.text, "ended": snapshot.ended,
        "position": [position.msn, position.part] if position else None,
        "discontinuity": snapshot.discontinuity_sequence,
    }).encode()


def decode_snapshot(data: bytes) -> tuple[str, PlaylistSnapshot]:
    fields = json.loads(data)
    position = fields["position"]
    return fields["space"], PlaylistSnapshot(
        text=fields["text"], ended=fields["ended"],
        position=Position(*position) if position else None,
        discontinuity_sequence=fields.get("discontinuity", 0),
    )


class RedisSegmentStore(SegmentStore):
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._mirror: dict[str, PlaylistSnapshot] = {}
        self._changed: dict[str, asyncio.Condition] = {}
        self._subscriber = Subscriber(client, PLAYLIST_CHANNEL, self._on_message, self._resync)

    async def start(self) -> None:
        await self._subscriber.start()

    async def close(self) -> None:
        await self._subscriber.close()

    def _on_message(self, data: bytes) -> None:
        space_id, snapshot = decode_snapshot(data)
        self._mirror[space_id] = snapshot
        condition = self._changed.get(space_id)
        if condition is not None:
            asyncio.create_task(self._notify(condition))

    @staticmethod
    async def _notify(condition: asyncio.Condition) -> None:
        async with condition:
            condition.notify_all()

    async def _resync(self) -> None:
        """Updates may have been missed while unsubscribed: forget the mirror."""
        self._mirror.clear()
        for condition in list(self._changed.values()):
            await self._notify(condition)

    async def put(self, space_id: str, name: str, data: bytes) -> None:
        await self._redis.set(_object_key(space_id, name), data, ex=OBJECT_TTL_SECONDS)

    async def get(self, space_id: str, name: str) -> bytes | None:
        return await self._redis.get(_object_key(space_id, name))

    async def delete(self, space_id: str, names: list[str]) -> None:
        if names:
            await self._redis.delete(*(_object_key(space_id, n) for n in names))

    async def set_playlist(self, space_id: str, snapshot: PlaylistSnapshot) -> None:
        data = encode_snapshot(space_id, snapshot)
        ttl = ENDED_PLAYLIST_TTL_SECONDS if snapshot.ended else None
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(_playlist_key(space_id), data, ex=ttl)
            pipe.publish(PLAYLIST_CHANNEL, data)
            await pipe.execute()

    async def playlist(self, space_id: str) -> PlaylistSnapshot | None:
        snapshot = self._mirror.get(space_id)
        if snapshot is None:
            data = await self._redis.get(_playlist_key(space_id))
            if data is None:
                return None
            _, snapshot = decode_snapshot(data)
            # A newer one may have arrived on the channel meanwhile: keep that.
            snapshot = self._mirror.setdefault(space_id, snapshot)
        return snapshot

    async def wait_for(
        self, space_id: str, msn: int, part: int | None, timeout: float
    ) -> PlaylistSnapshot | None:
        def ready() -> bool:
            snap = self._mirror.get(space_id)
            return snap is not None and snap.reached(msn, part)

        await self.playlist(space_id)  # fill the mirror from Redis if this node is new
        condition = self._changed.setdefault(space_id, asyncio.Condition())
        try:
            async with condition:
                await asyncio.wait_for(condition.wait_for(ready), timeout)
        except TimeoutError:
            return None
        return self._mirror.get(space_id)

    async def drop_space(self, space_id: str) -> None:
        self._mirror.pop(space_id, None)
        self._changed.pop(space_id, None)
        await self._redis.delete(_playlist_key(space_id))
