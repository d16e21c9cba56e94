"""The central use case: a room command decided, persisted, carried out and announced.

`SpaceCommands.act` is the one path for every command from the API: under the Space's
lock it loads the Room, lets the Room decide, saves the result (a database thread, never
the event loop), carries out the media effects (townhall/app/media_host.py) and
publishes one `change` event carrying the new Room, so every node's live feeds can
authorise what they send next (townhall/app/feeds.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session as OrmSession

from townhall.app.locks import SpaceLocks
from townhall.app.presenters import LiveFacts, SpaceOut, personalise, present, reminded
from townhall.backends.bus import EventBus
from townhall.domain import FINAL, Decision, Event, Room
from townhall.domain.affordances import room_json
from townhall.domain.events import event_json
from townhall.domain.errors import TAKEN_DOWN, Gone
from townhall.store import rooms as room_store
from townhall.store.db import Database
from townhall.store.models import Space, utcnow
from townhall import threads

Before = Callable[[OrmSession, Space], None]


def closed(space_id: str) -> Before:
    """What ending or cancelling a Space stores besides its state (whoever decided it:
    the host, or the lifecycle): when, and no more WHIP."""

    def close(db: OrmSession, space: Space) -> None:
        space.ended_at = utcnow()
        room_store.revoke_tokens(db, space_id)

    return close


@dataclass(frozen=True)
class Outcome:
    """What a command left behind: the Space as the viewer now sees it (JSON, ready to
    send), and the events it caused."""

    space: bytes
    events: tuple[Event, ...]
    room: Room


class SpaceCommands:
    def __init__(self, db: Database, bus: EventBus, locks: SpaceLocks,
                 live_facts: Callable[[str], LiveFacts],
                 carry_out: Callable[[str, tuple[Event, ...]], Any],
                 notify: Callable[[str, int | None, tuple[Event, ...], Room], None] | None = None,
                 ) -> None:
        self.db = db
        self.bus = bus
        self.locks = locks
        self._live_facts = live_facts
        self._carry_out = carry_out  # async (space_id, events): the media effects
        # (space_id, viewer, events, room): queues notifications (townhall/app/notifier.py),
        # never waits for them.
        self._notify = notify

    async def act(self, space_id: str, viewer: int | None, command: Callable[[Room], Decision],
                  base: str, before: Before | None = None) -> Outcome:
        """Decide `command` for `viewer`, persist it, carry out its effects, tell live
        clients. `before` stores what goes with the decision in the same transaction."""
        async with self.locks.hold(space_id):
            space, room, events = await threads.run(threads.DATABASE, self._decide, space_id,
                                                    command, before)
            await self._carry_out(space_id, events)
            live = self._live_facts(space_id)
            neutral, answer = await threads.run(threads.DATABASE, self._present, space_id,
                                                room, viewer, base, live)
            self.publish_change(space_id, events, room, neutral)
            if self._notify is not None and events:
                self._notify(space_id, viewer, events, room)
            if room.state in FINAL:
                self.bus.close_space(space_id)  # live clients' streams end with the Space
        return Outcome(answer, events, room)

    def publish_change(self, space_id: str, events: tuple[Event, ...], room: Room,
                       neutral: dict[str, Any]) -> None:
        """Sent even without room events (an edit, a pinned link). It carries the Room,
        which feeds use to authorise and personalise, and strip before sending."""
        self.bus.publish(space_id, {
            "type": "change",
            "events": [event_json(e) for e in events],
            "space": neutral,
            "room": room_json(room),
        })

    def _decide(self, space_id: str, command: Callable[[Room], Decision],
                before: Before | None) -> tuple[Space, Room, tuple[Event, ...]]:
        with self.db.session() as db:
            space, room, events = room_store.decide(db, space_id, command)
            if before is not None:
                before(db, space)
                room = replace(room, private=bool(space.private))  # e.g. made private now
            return space, room, events

    def _present(self, space_id: str, room: Room, viewer: int | None, base: str,
                 live: LiveFacts) -> tuple[dict[str, Any], bytes]:
        """The Space for nobody in particular (what the live event carries) and, from
        it, as the viewer sees it (the answer), both off the event loop."""
        with self.db.session() as db:
            space = room_store.space(db, space_id)
            neutral = present(db, space, room, None, base, live).model_dump(mode="json")
            mine = personalise(neutral, room, viewer)
            mine["reminded"] = reminded(db, space_id, viewer)
        return neutral, json.dumps(mine, separators=(",", ":")).encode()

    async def view(self, space_id: str, viewer: int | None, base: str,
                   action: str = "view") -> tuple[SpaceOut, Room]:
        """The Space as `viewer` sees it, if they may `action` (a read: no lock)."""
        live = self._live_facts(space_id)

        def read() -> tuple[SpaceOut, Room]:
            with self.db.session() as db:
                space, room = room_store.load(db, space_id)
                room.authorize(action, viewer)
                if space.taken_down is not None:
                    raise Gone("An operator took this Space's replay down (transparency log "
                               f"entry {space.taken_down}).", code=TAKEN_DOWN)
                return present(db, space, room, viewer, base, live), room

        return await threads.run(threads.DATABASE, read)

    async def room(self, space_id: str) -> Room:
        def read() -> Room:
            with self.db.session() as db:
                return room_store.load(db, space_id)[1]

        return await threads.run(threads.DATABASE, read)
