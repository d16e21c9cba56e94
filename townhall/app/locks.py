"""One lock per Space: the serialisation under which a decision becomes its effects.

Every room command (from the API, a WHIP offer, another node's control message) holds
its Space's lock from reading the Room to the last effect (peer connection closed,
mixer mute, tokens revoked, events published), so a request in flight can never slip
past a decision taken meanwhile. Locks of Spaces nobody is waiting on are dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class SpaceLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, space_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(space_id, asyncio.Lock())
        self._users[space_id] = self._users.get(space_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[space_id] -= 1
            if not self._users[space_id]:
                del self._users[space_id], self._locks[space_id]

    def held(self, space_id: str) -> bool:
        lock = self._locks.get(space_id)
        return lock is not None and lock.locked()

    def __len__(self) -> int:
        return len(self._locks)
