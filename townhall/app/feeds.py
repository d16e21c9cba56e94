"""Live events for one viewer, each authorised for that viewer when it is sent.

A feed reads the Space's bus queue. Every `change` event carries the Room as decided
(townhall/app/spaces.py), so the feed always knows the newest Room without a database
read, on any node. Before anything goes out the feed asks that Room whether its viewer
may still view the Space; when not (removed, blocked, taken off a private Space's list,
or the Space was made private) it sends one `denied` event with the code and ends.
A `change` goes out personalised: what this viewer may do now.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from townhall.app.presenters import personalise
from townhall.backends.bus import EventBus, Message
from townhall.domain import Room
from townhall.domain.affordances import room_from_json
from townhall.domain.errors import ClientError

# Viewers who are nobody in particular (no role, hand, invitation, guest place or
# removal) see a change the same way: one personalisation per message serves them all.
_OUTSIDER = "outsider"


class LiveFeed:
    def __init__(self, bus: EventBus, space_id: str, viewer: int | None) -> None:
        self.bus = bus
        self.space_id = space_id
        self.viewer = viewer
        # Subscribed before the snapshot is read, so no change falls between the two.
        self.queue = bus.subscribe(space_id)

    def close(self) -> None:
        self.bus.unsubscribe(self.space_id, self.queue)

    async def messages(self, room: Room, first: list[Message]) -> AsyncIterator[Message]:
        """`first` (the snapshot...) then everything the bus brings, while allowed."""
        try:
            for message in first:
                yield message
            while True:
                message = await self.queue.get()
                if message is None:
                    return
                if message.get("type") == "change" and "room" in message:
                    room = room_from_json(message["room"])
                denied = self._denied(room)
                if denied is not None:
                    yield denied
                    return
                yield self._for_viewer(message, room)
        finally:
            self.close()

    def _denied(self, room: Room) -> Message | None:
        """The Room's own refusal (code and sentence), if the viewer may no longer view."""
        try:
            room.authorize("view", self.viewer)
        except ClientError as refused:
            return {"type": "denied", "code": refused.code, "detail": refused.message}
        return None

    def _for_viewer(self, message: Message, room: Room) -> Message:
        if message.get("type") != "change":
            return message
        key: Any = self.viewer if _involved(room, self.viewer) else (_OUTSIDER, self.viewer is None)
        views: dict[Any, Message] = message.setdefault("_views", {})
        view = views.get(key)
        if view is None:
            view = {k: v for k, v in message.items() if not k.startswith("_") and k != "room"}
            view["space"] = personalise(message["space"], room, self.viewer)
            views[key] = view
        if view["space"]["your_id"] == self.viewer:
            return view
        space = {**view["space"], "your_id": self.viewer,
                 "you": {**view["space"]["you"], "id": self.viewer}}
        return {**view, "space": space}


def _involved(room: Room, viewer: int | None) -> bool:
    if viewer is None:
        return False
    return (viewer == room.host_id or viewer in room.cohosts or viewer in room.speakers
            or viewer in room.invited or viewer in room.guests or viewer in room.hands
            or viewer in room.removed or viewer in room.blocked)

