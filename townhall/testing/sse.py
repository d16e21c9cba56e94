"""A Server-Sent Events client for tests: collects a live-events stream in the background
and lets a test wait for a kind of message (a condition, never a sleep)."""

from __future__ import annotations

import asyncio
import json
from types import TracebackType
from typing import Any

import httpx


class EventStream:
    def __init__(self, url: str, cookies: httpx.Cookies | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.cookies = cookies
        self.headers = headers or {}
        self.messages: list[dict[str, Any]] = []
        self.status: int | None = None
        self.ended = asyncio.Event()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EventStream:
        self._task = asyncio.create_task(self._read())
        await self.wait_for("snapshot")
        return self

    async def __aexit__(self, *exc: tuple[type[BaseException], BaseException, TracebackType]) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _read(self) -> None:
        try:
            async with httpx.AsyncClient(timeout=60, cookies=self.cookies) as client:
                async with client.stream("GET", self.url, headers=self.headers) as response:
                    self.status = response.status_code
                    event = "message"
                    async for line in response.aiter_lines():
                        if line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("data:"):
                            data = json.loads(line[5:].strip())
                            await self._add({"event": event, **data})
        finally:
            self.ended.set()
            async with self._changed:
                self._changed.notify_all()

    async def _add(self, message: dict[str, Any]) -> None:
        async with self._changed:
            self.messages.append(message)
            self._changed.notify_all()

    def of(self, kind: str, after: int = 0) -> list[dict[str, Any]]:
        return [m for m in self.messages[after:] if m["type"] == kind]

    async def wait_for(self, kind: str, after: int = 0, timeout: float = 10.0) -> dict[str, Any]:
        """The first `kind` message after the first `after` ones (TimeoutError if none)."""

        def found() -> bool:
            return bool(self.of(kind, after)) or self.ended.is_set()

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(found), timeout)
        if not self.of(kind, after):
            raise AssertionError(f"the stream ended (status {self.status}) without {kind!r}: "
                                 f"{[m['type'] for m in self.messages]}")
        return self.of(kind, after)[0]

    async def wait_for_event(self, name: str, after: int = 0,
                             timeout: float = 10.0) -> dict[str, Any]:
        """The first `change` message after the first `after` ones that carries the room
        event `name` (e.g. "EndingScheduled"); that event, with the message's Space
        under "space"."""

        def carried() -> list[dict[str, Any]]:
            return [{**event, "space": m.get("space")} for m in self.of("change", after)
                    for event in m.get("events", ()) if event["type"] == name]

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(
                lambda: bool(carried()) or self.ended.is_set()), timeout)
        if not carried():
            raise AssertionError(f"the stream ended (status {self.status}) without {name!r}")
        return carried()[0]

    async def wait_ended(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self.ended.wait(), timeout)
