"""Writes take turns: at most a few API writes are worked on at once.

Every request costs the event loop some Python (routing, dependencies, validation,
answers), and the loop also carries every speaker's audio. Fifty writes arriving
together used to be worked on together, so one pass of the loop ran all their pieces
before the next audio frame went out: a 100-150 ms gap in every speaker's mix-minus
(benchmarks/burst_stall.py). Waiting here costs nothing, and writes to one Space take
turns under its lock anyway. Reads (GET: pages, live events, blocking playlist
reloads, media) never wait, nor do long-lived requests.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

from townhall import limits

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def ungated(method: str, path: str) -> bool:
    """Avatar uploads (PUT /api/users/{name}/avatar) take no turn: a photo arriving
    slowly from a phone would hold one for its whole transfer. They take turns of
    their own (limits.AVATAR_UPLOADS_AT_ONCE) and are decoded in their own thread."""
    return method == "PUT" and path.startswith("/api/users/") and path.endswith("/avatar")


class WriteGate:
    def __init__(self, app: ASGIApp, concurrent: int = limits.CONCURRENT_WRITES) -> None:
        self.app = app
        self.concurrent = concurrent
        self._turns: asyncio.Semaphore | None = None  # made on the server's loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] not in WRITES
                or ungated(scope["method"], scope["path"])):
            await self.app(scope, receive, send)
            return
        if self._turns is None:
            self._turns = asyncio.Semaphore(self.concurrent)
        async with self._turns:
            await self.app(scope, receive, send)
