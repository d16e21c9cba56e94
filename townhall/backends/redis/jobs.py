"""A cluster's background jobs (townhall/backends/jobs.py): a Redis stream read by one
consumer group, each origin a consumer, so every job is taken by exactly one origin.

- `put` never waits: the job goes to a local bounded queue that a pump adds to the
  stream (retrying while Redis is away, so a blip loses nothing queued).
- An origin working on a job records its cursor after every batch and, with it,
  re-claims the entry (resetting its idle time). An entry idle longer than
  JOB_CLAIM_IDLE (its origin died or hangs) is claimed by another origin (XAUTOCLAIM),
  which goes on from the recorded cursor.
- `done` acknowledges and deletes the entry and its cursor.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError, ResponseError

from townhall import limits
from townhall.backends.jobs import Taken

log = logging.getLogger(__name__)

STREAM = "townhall:jobs:notify"
GROUP = "notifiers"
CURSORS = "townhall:jobs:notify:cursors"
# How long a job may go without progress before another origin takes it over: a batch
# takes milliseconds, so 30 s without one means its origin is gone (or stuck).
JOB_CLAIM_IDLE = 30.0
# How long one read waits in Redis for a new job before looking for abandoned ones.
READ_BLOCK = 2.0
# How long to wait before trying Redis again after it failed.
RETRY_DELAY = 0.5


class RedisJobQueue:
    def __init__(self, client: redis.Redis, consumer: str,
                 claim_idle: float = JOB_CLAIM_IDLE) -> None:
        self.client = client
        self.consumer = consumer
        self.claim_idle_ms = int(claim_idle * 1000)
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(limits.NOTIFY_QUEUE_SIZE)
        self._pump: asyncio.Task[None] | None = None
        self._group_made = False

    def put(self, job: dict[str, Any]) -> None:
        try:
            self._outbox.put_nowait(job)
        except asyncio.QueueFull:
            log.warning("job queue full: %s not queued", job)

    async def start(self) -> None:
        self._pump = asyncio.create_task(self._send(), name="jobs-pump")

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            try:
                await self._pump
            except asyncio.CancelledError:
                pass

    def waiting(self) -> int:
        return self._outbox.qsize()

    async def _send(self) -> None:
        while True:
            job = await self._outbox.get()
            while True:
                try:
                    await self.client.xadd(STREAM, {"job": json.dumps(job)},
                                           maxlen=limits.NOTIFY_QUEUE_SIZE, approximate=True)
                    break
                except (RedisError, OSError) as exc:
                    log.warning("job not queued in Redis yet (%s): trying again", exc)
                    await asyncio.sleep(RETRY_DELAY)
            self._outbox.task_done()

    async def _ensure_group(self) -> None:
        if self._group_made:
            return
        try:
            await self.client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_made = True

    async def take(self) -> Taken:
        while True:
            try:
                await self._ensure_group()
                taken = await self._claim() or await self._read()
            except (RedisError, OSError) as exc:
                if "NOGROUP" in str(exc):  # Redis came back empty: make the group again
                    self._group_made = False
                log.warning("cannot read jobs from Redis (%s): trying again", exc)
                await asyncio.sleep(RETRY_DELAY)
                continue
            if taken is not None:
                return taken

    async def _claim(self) -> Taken | None:
        """An entry another consumer took and left idle past the limit, if any."""
        _, entries, _ = await self.client.xautoclaim(
            STREAM, GROUP, self.consumer, self.claim_idle_ms, start_id="0-0", count=1)
        for entry_id, fields in entries:
            if fields:  # an entry deleted meanwhile comes back empty
                return await self._taken(entry_id, fields, claimed=True)
        return None

    async def _read(self) -> Taken | None:
        found = await self.client.xreadgroup(GROUP, self.consumer, {STREAM: ">"}, count=1,
                                             block=int(READ_BLOCK * 1000))
        for _, entries in found or []:
            for entry_id, fields in entries:
                return await self._taken(entry_id, fields)
        return None

    async def _taken(self, entry_id: bytes | str, fields: dict[Any, Any],
                     claimed: bool = False) -> Taken:
        job_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        raw = fields.get(b"job", fields.get("job"))
        cursor = await self.client.hget(CURSORS, job_id)
        return Taken(job_id, json.loads(raw), int(cursor) if cursor is not None else None,
                     claimed)

    async def progress(self, job_id: str, cursor: int) -> None:
        try:
            await self.client.hset(CURSORS, job_id, cursor)
            # Still ours: reset the entry's idle time so nobody claims it.
            await self.client.xclaim(STREAM, GROUP, self.consumer, 0, [job_id], justid=True)
        except (RedisError, OSError) as exc:
            # The batch is written; a takeover would redo it (and skip whoever has it).
            log.warning("progress of job %s not recorded (%s)", job_id, exc)

    async def done(self, job_id: str) -> None:
        try:
            await self.client.xack(STREAM, GROUP, job_id)
            await self.client.xdel(STREAM, job_id)
            await self.client.hdel(CURSORS, job_id)
        except (RedisError, OSError) as exc:
            log.warning("job %s not marked done (%s): another origin may check it again", job_id,
                        exc)
