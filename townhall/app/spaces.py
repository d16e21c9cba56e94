"""The central use case: a room command decided, persisted, carried out and announced.

`SpaceCommands.act` is the one path for every command from the API: under the Space's
lock it loads the Room, lets the Room decide, saves the result (a database thread, never
the event loop), carries out the media effects (townhall/app/media_host.py) and
publishes one `change` event carrying the new Room, so every node's live feeds can
authorise what they send next (townhall/app/feeds.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session as OrmSession

from townhall.app.locks import SpaceLocks
from townhall.app.presenters import LiveFacts, SpaceOut, present
from townhall.backends.bus import EventBus
from townhall.domain import FINAL, Decision, Event, Room
from townhall.domain.affordances import room_json
from townhall.domain.events import event_json
from townhall.store import rooms as room_store
from townhall.store.db import Database
from townhall.store.models import Space

Before = Callable[[OrmSession, Space], None]


@dataclass(frozen=True)
class Outcome:
    """What a command left behind: the viewer's view, and the events it caused."""

    space: SpaceOut
    events: tuple[Event, ...]
    room: Room


class SpaceCommands:
    def __init__(self, db: Database, bus: EventBus, locks: SpaceLocks,
                 live_facts: Callable[[str], LiveFacts],
                 carry_out: Callable[[str, tuple[Event, ...]], Any]) -> None:
        self.db = db
        self.bus = bus
        self.locks = locks
        self._live_facts = live_facts
        self._carry_out = carry_out  # async (space_id, events): the media effects

    async def act(self, space_id: str, viewer: int | None, command: Callable[[Room], Decision],
                  base: str, before: Before | None = None) -> Outcome:
        """Decide `command` for `viewer`, persist it, carry out its effects, tell live
        clients. `before` stores what goes with the decision in the same transaction."""
        async with self.locks.hold(space_id):
            space, room, events = await asyncio.to_thread(self._decide, space_id, command, before)
            await self._carry_out(space_id, events)
            live = self._live_facts(space_id)
            neutral, out = await asyncio.to_thread(self._present, space_id, viewer, base, live)
            self.publish_change(space_id, events, room, neutral)
            if room.state in FINAL:
                self.bus.close_space(space_id)  # live clients' streams end with the Space
        return Outcome(out, events, room)

    def publish_change(self, space_id: str, events: tuple[Event, ...], room: Room,
                       neutral: SpaceOut) -> None:
        """Sent even without room events (an edit, a pinned link). It carries the Room,
        which feeds use to authorise and personalise, and strip before sending."""
        self.bus.publish(space_id, {
            "type": "change",
            "events": [event_json(e) for e in events],
            "space": neutral.model_dump(mode="json"),
            "room": room_json(room),
        })

    def _decide(self, space_id: str, command: Callable[[Room], Decision],
                before: Before | None) -> tuple[Space, Room, tuple[Event, ...]]:
        with self.db.session() as db:
            space, room, events = room_store.decide(db, space_id, command)
            if before is not None:
                before(db, space)
                db.flush()
                room = room_store.load(db, space_id)[1]  # e.g. made private just now
            return space, room, events

    def _present(self, space_id: str, viewer: int | None, base: str,
                 live: LiveFacts) -> tuple[SpaceOut, SpaceOut]:
        with self.db.session() as db:
            space, room = room_store.load(db, space_id)
            return (present(db, space, room, None, base, live),
                    present(db, space, room, viewer, base, live))

    async def view(self, space_id: str, viewer: int | None, base: str,
                   action: str = "view") -> tuple[SpaceOut, Room]:
        """The Space as `viewer` sees it, if they may `action` (a read: no lock)."""
        live = self._live_facts(space_id)

        def read() -> tuple[SpaceOut, Room]:
            with self.db.session() as db:
                space, room = room_store.load(db, space_id)
                room.authorize(action, viewer)
                return present(db, space, room, viewer, base, live), room

        return await asyncio.to_thread(read)

    async def room(self, space_id: str) -> Room:
        def read() -> Room:
            with self.db.session() as db:
                return room_store.load(db, space_id)[1]

        return await asyncio.to_thread(read)
