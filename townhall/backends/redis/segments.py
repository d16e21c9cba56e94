"""The segment store shared by every origin: objects and playlists in Redis, playlist
changes announced on one pub/sub channel.

Every node keeps a mirror of the newest playlist of each Space, updated from the
channel, so a playlist request or a blocking reload costs no Redis round trip; waiting
for a position is waiting on a local condition that the channel wakes.

Redis may go away (a restart, a failover): the node mixing a Space keeps what it
publishes (its playlists, and its parts and segments until they leave the window) in
memory too, so its listeners keep playing and its recording stays whole while Redis is
gone; writes that fail are logged once per outage and not retried (the next playlist
replaces the missed one). Back, Redis gets the newest playlist with the next part.
"""

from __future__ import annotations

import asyncio
import json
import logging

import redis.asyncio as redis
from redis.exceptions import RedisError

from townhall.backends.redis.pubsub import Subscriber
from townhall.media.llhls import Position
from townhall.media.segment_store import PlaylistSnapshot, SegmentStore

log = logging.getLogger(__name__)

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


def _newer(new: PlaylistSnapshot, old: PlaylistSnapshot | None) -> bool:
    """Is `new` at least as far on as `old`? Messages about a Space may arrive after the
    node that publishes it has already moved on (its own mirror is set at once)."""
    if old is None or new.ended:
        return True
    if old.ended:
        return False
    if new.discontinuity_sequence != old.discontinuity_sequence:
        return new.discontinuity_sequence > old.discontinuity_sequence
    key = lambda s: (s.position.msn, s.position.part) if s.position else (-1, -1)  # noqa: E731
    return key(new) >= key(old)


class RedisSegmentStore(SegmentStore):
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._mirror: dict[str, PlaylistSnapshot] = {}
        self._changed: dict[str, asyncio.Condition] = {}
        # What this node published itself: served from here first, and whole while
        # Redis is away. Objects leave with delete() (the playlist window).
        self._own_objects: dict[tuple[str, str], bytes] = {}
        self._own_playlists: set[str] = set()
        self._outage = False
        self._subscriber = Subscriber(client, PLAYLIST_CHANNEL, self._on_message, self._resync)

    async def start(self) -> None:
        await self._subscriber.start()

    async def close(self) -> None:
        await self._subscriber.close()

    def _on_message(self, data: bytes) -> None:
        space_id, snapshot = decode_snapshot(data)
        self._show(space_id, snapshot)

    def _show(self, space_id: str, snapshot: PlaylistSnapshot) -> None:
        if not _newer(snapshot, self._mirror.get(space_id)):
            return
        self._mirror[space_id] = snapshot
        condition = self._changed.get(space_id)
        if condition is not None:
            asyncio.create_task(self._notify(condition))

    @staticmethod
    async def _notify(condition: asyncio.Condition) -> None:
        async with condition:
            condition.notify_all()

    async def _resync(self) -> None:
        """Updates may have been missed while unsubscribed: forget the mirror, except
        the playlists this node publishes (they are the newest there are), which go back
        to Redis for the other nodes."""
        own = {s: self._mirror[s] for s in self._own_playlists if s in self._mirror}
        self._mirror.clear()
        self._mirror.update(own)
        for space_id, snapshot in own.items():
            await self._write("playlist", self._publish(space_id, snapshot))
        for condition in list(self._changed.values()):
            await self._notify(condition)

    async def _write(self, what: str, write: object) -> None:
        """Await a Redis write; while Redis is away, note it once and go on."""
        try:
            await write  # type: ignore[misc]
        except (RedisError, OSError) as exc:
            if not self._outage:
                log.warning("redis unavailable (%s: %s): this node's Spaces keep playing "
                            "from its memory", what, exc)
            self._outage = True
            return
        if self._outage:
            log.info("redis is back: writes reach it again")
        self._outage = False

    async def put(self, space_id: str, name: str, data: bytes) -> None:
        self._own_objects[(space_id, name)] = data
        await self._write("object", self._redis.set(_object_key(space_id, name), data,
                                                    ex=OBJECT_TTL_SECONDS))

    async def get(self, space_id: str, name: str) -> bytes | None:
        own = self._own_objects.get((space_id, name))
        if own is not None:
            return own
        try:
            return await self._redis.get(_object_key(space_id, name))
        except (RedisError, OSError):
            return None  # another node's object, unreachable: a 404 the player retries

    async def delete(self, space_id: str, names: list[str]) -> None:
        for name in names:
            self._own_objects.pop((space_id, name), None)
        if names:
            await self._write("delete", self._redis.delete(
                *(_object_key(space_id, n) for n in names)))

    async def set_playlist(self, space_id: str, snapshot: PlaylistSnapshot) -> None:
        self._own_playlists.add(space_id)
        self._show(space_id, snapshot)  # this node's listeners see it at once
        await self._write("playlist", self._publish(space_id, snapshot))

    async def _publish(self, space_id: str, snapshot: PlaylistSnapshot) -> None:
        data = encode_snapshot(space_id, snapshot)
        ttl = ENDED_PLAYLIST_TTL_SECONDS if snapshot.ended else None
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(_playlist_key(space_id), data, ex=ttl)
            pipe.publish(PLAYLIST_CHANNEL, data)
            await pipe.execute()

    async def playlist(self, space_id: str) -> PlaylistSnapshot | None:
        snapshot = self._mirror.get(space_id)
        if snapshot is None:
            try:
                data = await self._redis.get(_playlist_key(space_id))
            except (RedisError, OSError):
                return None
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
        self._own_playlists.discard(space_id)
        for key in [k for k in self._own_objects if k[0] == space_id]:
            del self._own_objects[key]
        await self._write("drop", self._redis.delete(_playlist_key(space_id)))
