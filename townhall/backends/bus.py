"""Room events to live clients: in-process pub/sub per Space (townhall.backends.redis.bus
carries them between nodes).

Subscribers are bounded queues; a client too slow to keep up is dropped (it reconnects
and gets a fresh snapshot) rather than letting memory grow.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from townhall import limits

Message = dict[str, Any]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[Message | None]]] = {}
        # The newest concurrent-listener figure seen per Space (from "audience" events).
        self.audience_now: dict[str, int] = {}
        # Who is on stage per Space, as the node mixing it last said ("levels" events
        # carry it), with the time it was heard: other nodes answer from this.
        self.stage_now: dict[str, tuple[float, frozenset[int]]] = {}
        # Media commands for the node owning a Space's media (see send_control).
        self.on_control: Callable[[str, Message], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def close(self) -> None: ...

    def may_have_subscribers(self, space_id: str) -> bool:
        return bool(self._subscribers.get(space_id))

    def send_control(self, space_id: str, message: Message) -> None:
        """A media command (mute, remove, go live, end) for the Space's media owner: in
        one process that is this one."""
        if self.on_control is not None:
            self.on_control(space_id, message)

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
        """Deliver to this node's subscribers. Safe from any thread: asyncio queues are
        not, so a call from a worker thread is handed to the loop."""
        if self._loop is not None and not _on(self._loop):
            self._loop.call_soon_threadsafe(self._deliver, space_id, message)
        else:
            self._deliver(space_id, message)

    def _deliver(self, space_id: str, message: Message) -> None:
        if message.get("type") == "audience":
            self.audience_now[space_id] = int(message["listeners"])
        elif message.get("type") == "levels" and "on_stage" in message:
            self.stage_now[space_id] = (time.monotonic(), frozenset(message["on_stage"]))
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
        self.audience_now.pop(space_id, None)
        self.stage_now.pop(space_id, None)


def _on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
