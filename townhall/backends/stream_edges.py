"""Publishes a live Space's stream chunks to the edges that fan them out (the one-stream
listener path: townhall/media/listen_stream.py, townhall/edge/nginx.conf.j2).

The node that mixes a Space POSTs each chunk once per edge to the edge's Nchan channel
for the Space (`{edge}/_stream/pub/{space_id}`); the edge writes it to every listener's
open response. After a failover the node that adopts the Space publishes to the same
channels, so listeners' streams go on. One sender task per edge keeps a Space's chunks
in order; a slow or dead edge loses its oldest chunks (limits.STREAM_PUBLISH_QUEUE),
never holds the mixer.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx

from townhall import limits

log = logging.getLogger(__name__)
PUBLISH_PATH = "/_stream/pub/"
# A failing edge is logged at most this often (it fails once per chunk).
LOG_EVERY = 30.0


class StreamEdges:
    def __init__(self, edges: list[str]) -> None:
        self.edges = edges
        self.sent = 0
        self.dropped = 0
        self.failed = 0
        # (space, chunk); chunk None: the Space ended.
        self._queues = [asyncio.Queue[tuple[str, bytes | None]](limits.STREAM_PUBLISH_QUEUE)
                        for _ in edges]
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self._logged = -LOG_EVERY

    def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=limits.STREAM_PUBLISH_TIMEOUT)
        self._tasks = [asyncio.create_task(self._send(edge, queue), name=f"stream-edge-{edge}")
                       for edge, queue in zip(self.edges, self._queues)]

    def publish(self, space_id: str, chunk: bytes) -> None:
        """Called on the loop by the Space's media with each chunk; never waits."""
        self._put(space_id, chunk)

    def end(self, space_id: str) -> None:
        """The Space ended: after its last chunk, its channel goes (Nchan then ends the
        listeners' responses)."""
        self._put(space_id, None)

    def _put(self, space_id: str, chunk: bytes | None) -> None:
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
                self.dropped += 1
            queue.put_nowait((space_id, chunk))

    async def _send(self, edge: str, queue: asyncio.Queue[tuple[str, bytes | None]]) -> None:
        assert self._client is not None
        while True:
            space_id, chunk = await queue.get()
            url = edge + PUBLISH_PATH + space_id
            try:
                if chunk is None:
                    response = await self._client.delete(url)
                else:
                    response = await self._client.post(url, content=chunk)
                if response.status_code != 404:  # deleting a channel nobody had
                    response.raise_for_status()
                self.sent += 1
            except httpx.HTTPError as exc:
                self.failed += 1
                if time.monotonic() - self._logged >= LOG_EVERY:
                    self._logged = time.monotonic()
                    log.warning("publishing a stream chunk to %s failed: %s", edge, exc)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
