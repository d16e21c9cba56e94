"""The bell, live: each signed-in tab's unread count pushed over an event stream.

The notifier publishes one `notified` message per batch it writes (the people who got a
notification) on the event bus under NOTIFIED, a key no Space can have; with Redis the
bus carries it to every origin. Each origin hands it to the streams its own signed-in
tabs hold: a tab only hears "something changed" and asks the database for its count, so
a batch of a thousand costs a message, not a thousand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from townhall.backends.bus import EventBus

log = logging.getLogger(__name__)

# The bus key of "these people have new notifications" (Space ids are URL-safe tokens
# without "~", so no Space's events share it).
NOTIFIED = "~notified"


class Inbox:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        # user id -> the queues of that person's open tabs on this node
        self._tabs: dict[int, set[asyncio.Queue[None]]] = {}
        self._task: asyncio.Task[None] | None = None

    def published(self, user_ids: list[int]) -> None:
        """People just got a notification (from the notifier, on the event loop)."""
        if user_ids:
            self.bus.publish(NOTIFIED, {"type": "notified", "users": user_ids})

    def open(self, user_id: int) -> asyncio.Queue[None]:
        """A tab's wake-ups: one item means "your count may have changed" (at most one
        waits, so a burst of batches is one recount)."""
        queue: asyncio.Queue[None] = asyncio.Queue(1)
        self._tabs.setdefault(user_id, set()).add(queue)
        return queue

    def close(self, user_id: int, queue: asyncio.Queue[None]) -> None:
        tabs = self._tabs.get(user_id)
        if tabs is not None:
            tabs.discard(queue)
            if not tabs:
                del self._tabs[user_id]

    def tabs(self) -> int:
        return sum(len(t) for t in self._tabs.values())

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="inbox")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            queue = self.bus.subscribe(NOTIFIED)
            try:
                while (message := await queue.get()) is not None:
                    self._wake(message.get("users", ()))
            finally:
                self.bus.unsubscribe(NOTIFIED, queue)
            # None: the bus found this reader too slow and dropped it. Wake every tab
            # (each recounts) rather than miss someone, and subscribe again.
            log.warning("the inbox fell behind the notifier: every open bell recounts")
            self._wake(list(self._tabs))

    def _wake(self, user_ids: object) -> None:
        for user_id in user_ids:  # type: ignore[attr-defined]
            for queue in self._tabs.get(user_id, ()):
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(None)
