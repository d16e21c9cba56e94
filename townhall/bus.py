"""Room events to live clients: in-process pub/sub per Space (Redis for clusters later).

Subscribers are bounded queues; a client too slow to keep up is dropped (it reconnects
and gets a fresh snapshot) rather than letting memory grow.
"""

from __future__ import annotations

import asyncio
from typing import Any

from townhall import limits

Message = dict[str, Any]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[Message | None]]] = {}

    def subscribe(self, space_id: str) -> asyncio.Queue[Message | None]:
        queue: asyncio.Queue[Message | None] = asyncio.Queue(limits.EVENT_QUEUE_SIZE)
        self._subscribers.setdefault(space_id, set()).add(queue)
        return queue

    def unsubscribe(self, space_id: str, queue: asyncio.Queue[Message | None]) -> None:
        subscribers = self._subscribers.get(space_id)
        if subscribers is not None:
            subscribers.discard(queue)
            if not subscribers:
                del self._subscribers[space_id]

    def count(self, space_id: str) -> int:
        return len(self._subscribers.get(space_id, ()))

    def publish(self, space_id: str, message: Message) -> None:
        for queue in list(self._subscribers.get(space_id, ())):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                # Too slow: end its stream (None) after clearing room for the marker.
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)
                self.unsubscribe(space_id, queue)

    def close_space(self, space_id: str) -> None:
        for queue in list(self._subscribers.get(space_id, ())):
            try:
                queue.put_nowait(None)
            except asyncio.QueueFull:
                pass
        self._subscribers.pop(space_id, None)
