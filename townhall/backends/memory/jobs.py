"""One node's background jobs: an in-process queue (townhall/backends/jobs.py)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

from townhall import limits
from townhall.backends.jobs import Taken

log = logging.getLogger(__name__)


class MemoryJobQueue:
    def __init__(self, size: int = limits.NOTIFY_QUEUE_SIZE) -> None:
        self._queue: asyncio.Queue[Taken] = asyncio.Queue(size)
        self._ids = itertools.count(1)

    def put(self, job: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(Taken(str(next(self._ids)), job))
        except asyncio.QueueFull:
            log.warning("job queue full: %s not queued", job)

    async def take(self) -> Taken:
        return await self._queue.get()

    async def progress(self, job_id: str, cursor: int) -> None:
        pass  # nobody else could take it over

    async def done(self, job_id: str) -> None:
        self._queue.task_done()

    def waiting(self) -> int:
        return self._queue.qsize()

    async def idle(self) -> None:
        """Until every job queued so far is done (tests, benchmarks)."""
        await self._queue.join()

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass
