"""The single-node segment store: playlists, parts and segments in this process."""

from __future__ import annotations

import asyncio

from townhall.media.segment_store import PlaylistSnapshot, SegmentStore


class MemorySegmentStore(SegmentStore):
    def __init__(self) -> None:
        self._objects: dict[str, dict[str, bytes]] = {}
        self._playlists: dict[str, PlaylistSnapshot] = {}
        self._changed: dict[str, asyncio.Condition] = {}

    def _condition(self, space_id: str) -> asyncio.Condition:
        return self._changed.setdefault(space_id, asyncio.Condition())

    async def put(self, space_id: str, name: str, data: bytes) -> None:
        self._objects.setdefault(space_id, {})[name] = data

    async def get(self, space_id: str, name: str) -> bytes | None:
        return self._objects.get(space_id, {}).get(name)

    async def delete(self, space_id: str, names: list[str]) -> None:
        objects = self._objects.get(space_id, {})
        for name in names:
            objects.pop(name, None)

    async def set_playlist(self, space_id: str, snapshot: PlaylistSnapshot) -> None:
        self._playlists[space_id] = snapshot
        condition = self._condition(space_id)
        async with condition:
            condition.notify_all()

    async def playlist(self, space_id: str) -> PlaylistSnapshot | None:
        return self._playlists.get(space_id)

    async def wait_for(
        self, space_id: str, msn: int, part: int | None, timeout: float
    ) -> PlaylistSnapshot | None:
        def ready() -> bool:
            snap = self._playlists.get(space_id)
            return snap is not None and snap.reached(msn, part)

        condition = self._condition(space_id)
        try:
            async with condition:
                await asyncio.wait_for(condition.wait_for(ready), timeout)
        except TimeoutError:
            return None
        return self._playlists.get(space_id)

    async def drop_space(self, space_id: str) -> None:
        self._objects.pop(space_id, None)
        self._playlists.pop(space_id, None)
