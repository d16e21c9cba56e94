"""Room events across origins: every node publishes to one Redis channel and delivers
what arrives to its own live clients (townhall.backends.bus.EventBus does the local part).

Media commands (mute, remove, end) travel on a second channel to whichever node owns
the Space's media."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import redis.asyncio as redis
from redis.exceptions import RedisError

from townhall.backends.bus import EventBus, Message
from townhall.backends.redis.pubsub import Subscriber

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "townhall:events"
CONTROL_CHANNEL = "townhall:control"
_CLOSE = "__close__"
# Messages waiting to go out to Redis (events of every Space on this node) before new
# ones are dropped with a warning: Redis unreachable must not grow memory.
OUTGOING_QUEUE_SIZE = 16_384
# On shutdown, what was published gets this long to reach Redis.
DRAIN_SECONDS = 1.0


class RedisBus(EventBus):
    def __init__(self, client: redis.Redis) -> None:
        super().__init__()
        self._redis = client
        self._outgoing: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(OUTGOING_QUEUE_SIZE)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sender: asyncio.Task[None] | None = None
        self._events = Subscriber(client, EVENTS_CHANNEL, self._on_event)
        self._control = Subscriber(client, CONTROL_CHANNEL, self._on_control)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._sender = asyncio.create_task(self._send())
        await self._events.start()
        await self._control.start()

    def may_have_subscribers(self, space_id: str) -> bool:
        return True  # clients on other nodes are not known here

    # Publishing may happen in a worker thread (sync endpoints): hand it to the loop.
    def _enqueue(self, channel: str, payload: dict[str, object]) -> None:
        assert self._loop is not None, "start() first"
        data = (channel, json.dumps(payload).encode())
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._put(data)
        else:
            self._loop.call_soon_threadsafe(self._put, data)

    def _put(self, data: tuple[str, bytes]) -> None:
        try:
            self._outgoing.put_nowait(data)
        except asyncio.QueueFull:
            log.warning("redis is not keeping up: dropping a message on %s", data[0])

    async def _send(self) -> None:
        while True:
            channel, data = await self._outgoing.get()
            try:
                await self._redis.publish(channel, data)
            except (RedisError, OSError) as exc:
                log.warning("publishing on %s failed: %s", channel, exc)
            finally:
                self._outgoing.task_done()

    def publish(self, space_id: str, message: Message) -> None:
        self._enqueue(EVENTS_CHANNEL, {"space": space_id, "message": message})

    def close_space(self, space_id: str) -> None:
        self._enqueue(EVENTS_CHANNEL, {"space": space_id, "message": {"type": _CLOSE}})

    def send_control(self, space_id: str, message: Message) -> None:
        self._enqueue(CONTROL_CHANNEL, {"space": space_id, "message": message})

    def _on_event(self, data: bytes) -> None:
        fields = json.loads(data)
        if fields["message"].get("type") == _CLOSE:
            super().close_space(fields["space"])
        else:
            self._deliver(fields["space"], fields["message"])

    def _on_control(self, data: bytes) -> None:
        fields = json.loads(data)
        if self.on_control is not None:
            self.on_control(fields["space"], fields["message"])

    async def close(self) -> None:
        await self._events.close()
        await self._control.close()
        if self._sender is not None:
            # Let what was published go out first (an ended Space's last events).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outgoing.join(), DRAIN_SECONDS)
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
