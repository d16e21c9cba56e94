"""One Redis pub/sub subscription per process, kept alive across Redis hiccups."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Handler = Callable[[bytes], None]
# After a lost subscription, try again this soon (a node must not stay deaf for long:
# blocking playlist reloads wait on these messages).
RESUBSCRIBE_DELAY = 0.2


class Subscriber:
    """Calls a handler for every message on a channel. `on_resubscribe` runs after the
    subscription was lost and restored (messages in between are gone: resync state)."""

    def __init__(self, client: redis.Redis, channel: str, handler: Handler,
                 on_resubscribe: Callable[[], Awaitable[None]] | None = None) -> None:
        self._client = client
        self._channel = channel
        self._handler = handler
        self._on_resubscribe = on_resubscribe
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"subscribe-{self._channel}")
        await self.ready.wait()

    async def _run(self) -> None:
        first = True
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    if not first and self._on_resubscribe is not None:
                        await self._on_resubscribe()
                    first = False
                    self.ready.set()
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            try:
                                self._handler(message["data"])
                            except Exception:
                                log.exception("handling a message on %s failed", self._channel)
            except (RedisError, OSError) as exc:
                log.warning("redis subscription %s lost (%s); resubscribing", self._channel, exc)
                await asyncio.sleep(RESUBSCRIBE_DELAY)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
