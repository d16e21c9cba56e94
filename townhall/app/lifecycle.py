"""A Space's lifecycle as time passes: the system's own room commands, asked for here.

Two watches, started and stopped with the runtime:
- **The stage** (on the node mixing a live Space): when the host and every co-host have
  been off stage (no WHIP connection; a house source such as the demo voice counts as
  the host) for `host_absent_warning` seconds, everyone is told the Space ends
  `host_absent_end` seconds later; the host or a co-host coming back cancels that; at
  the announced time the Space ends itself, and its replay stops at the warning.
- **Never started** (on every node): a Space still scheduled `now_space_expiry` seconds
  after its start time (its creation, for a "now" Space) is cancelled.

The Room decides (townhall/domain/room.py); the commands go through SpaceCommands.act
like any other, so they are persisted, carried out and announced under the Space's lock.
Moments are wall-clock UTC: they are stored, and another node may take a Space over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from townhall import limits, threads
from townhall.app.media_host import MediaHost
from townhall.app.outages import BACKEND_ERRORS, Outage
from townhall.app.spaces import Before, SpaceCommands, closed
from townhall.config import Settings
from townhall.domain import Decision, Room, SpaceState
from townhall.domain.errors import ClientError
from townhall.store import rooms as room_store
from townhall.store.db import Database
from townhall.store.models import Space

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Lifecycle:
    def __init__(self, settings: Settings, db: Database, host: MediaHost,
                 commands: SpaceCommands) -> None:
        self.settings = settings
        self.db = db
        self.host = host
        self.commands = commands
        # Since when nobody in charge has been on stage, per live Space mixed here.
        self._absent_since: dict[str, datetime] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._outage = Outage("lifecycle")

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._every(self.settings.lifecycle_check_every,
                                                       self.check_stages, wakes=True)),
                       asyncio.create_task(self._every(self.settings.sweep_every,
                                                       self.expire_never_started))]

    def stage_changed(self) -> None:
        """Someone joined or left a stage: look now, not at the next tick."""
        self._wake.set()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _every(self, seconds: float, check: Callable[[datetime], object],
                     wakes: bool = False) -> None:
        while True:
            if wakes:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), seconds)
                self._wake.clear()
            else:
                await asyncio.sleep(seconds)
            try:
                await check(utcnow())  # type: ignore[misc]
                self._outage.ok()
            except BACKEND_ERRORS as exc:  # the database away: the next tick tries again
                self._outage.failed(exc)
            except Exception:
                log.exception("lifecycle check failed")

    # -- the stage -----------------------------------------------------------------------
    def _hosted(self, space_id: str, room: Room) -> bool:
        """Is someone in charge on this Space's stage now (or the server's own voice)?"""
        media = self.host.media.get(space_id)
        if media is not None and media.house_sources:
            return True
        return room.hosted(self.host.on_stage_here(space_id))

    async def check_stages(self, now: datetime) -> None:
        """Warn, call off or end, for every live Space this node mixes."""
        mixed = [space_id for space_id, media in self.host.media.items() if media.recording]
        for gone in self._absent_since.keys() - set(mixed):
            del self._absent_since[gone]
        if not mixed:
            return
        rooms = await threads.run(threads.DATABASE, self._rooms, mixed)
        for space_id, room in rooms.items():
            if room.state != SpaceState.LIVE:
                continue
            if self._hosted(space_id, room):
                self._absent_since.pop(space_id, None)
                if room.ending is not None:
                    await self._act(space_id, lambda r: r.host_returned())
                continue
            since = self._absent_since.setdefault(space_id, now)
            if room.ending is None and now - since >= timedelta(seconds=self.settings.host_absent_warning):
                ends_at = now + timedelta(seconds=self.settings.host_absent_end)
                await self._act(space_id, self._unless_hosted(
                    space_id, lambda r: r.warn_host_absent(now, ends_at)))
            elif room.ends_at is not None and now >= room.ends_at:
                await self._act(space_id, self._unless_hosted(
                    space_id, lambda r: r.end_abandoned(now)), before=closed(space_id))

    def _unless_hosted(self, space_id: str,
                       command: Callable[[Room], Decision]) -> Callable[[Room], Decision]:
        """`command`, unless someone in charge came back since the look: decided under
        the Space's lock, where no WHIP offer can land meanwhile (app/stage.py)."""
        def decide(room: Room) -> Decision:
            return room.host_returned() if self._hosted(space_id, room) else command(room)
        return decide

    def _rooms(self, space_ids: list[str]) -> dict[str, Room]:
        with self.db.session() as db:
            return room_store.load_many(db, space_ids)

    # -- never started -------------------------------------------------------------------
    async def expire_never_started(self, now: datetime) -> None:
        for space_id in await threads.run(threads.DATABASE, self._never_started, now):
            await self._act(space_id, lambda r: r.expire(), before=closed(space_id))

    def _never_started(self, now: datetime) -> list[str]:
        # Stored times are naive UTC on SQLite; compare like with like.
        cutoff = (now - timedelta(seconds=self.settings.now_space_expiry)).replace(tzinfo=None)
        starts = func.coalesce(Space.scheduled_start, Space.created_at)
        query = (select(Space.id).where(Space.state == SpaceState.SCHEDULED.value, starts < cutoff)
                 .limit(limits.SWEEP_BATCH))
        with self.db.session() as db:
            return list(db.scalars(query))

    # -- carrying out ----------------------------------------------------------------------
    async def _act(self, space_id: str, command: Callable[[Room], Decision],
                   before: Before | None = None) -> None:
        try:
            outcome = await self.commands.act(space_id, None, command, self.settings.base_url,
                                              before)
        except ClientError as refused:  # decided otherwise meanwhile (another node, the host)
            log.info("lifecycle: %s not changed: %s", space_id, refused)
            return
        for event in outcome.events:
            log.info("lifecycle: %s %s", space_id, type(event).__name__,
                     extra={"space": space_id})
