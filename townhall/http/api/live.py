"""Live room events (Server-Sent Events), reactions, the pinned link, reminders, .ics."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

import icalendar
from fastapi import APIRouter, Depends, Request, Response
from sse_starlette import EventSourceResponse
from pydantic import AnyHttpUrl, BaseModel, Field

from townhall import limits
from townhall.store import rooms as room_store
from townhall.http.common.deps import client_key, current_user, public_base, require_user, services
from townhall.http.common.errors_doc import API_ERRORS
from townhall.http.api.spaces import SpaceOut, act
from townhall.domain.errors import BadRequest
from townhall.domain import Room, SpaceState
from townhall.store.models import Reminder, Space, User

router = APIRouter(prefix="/api/spaces/{space_id}", tags=["live"], responses=API_ERRORS)
Viewer = Annotated[User | None, Depends(current_user)]
SignedIn = Annotated[User, Depends(require_user)]

# What listeners can react with: a fixed set keeps the overlay readable and the
# messages small.
REACTIONS = ("👏", "❤️", "😂", "🔥", "💯", "🙏", "👍", "😮")
# A comment line this often keeps proxies from closing an idle event stream.
HEARTBEAT_SECONDS = 15.0
# How long a scheduled Space lasts in calendars when it has no end yet.
CALENDAR_DURATION = timedelta(hours=1)


class ReactionIn(BaseModel):
    emoji: str = Field(min_length=1, max_length=8)


class PinIn(BaseModel):
    url: AnyHttpUrl = Field(max_length=limits.MAX_URL_LENGTH)


@router.get("/events", response_class=EventSourceResponse,
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}})
async def events(space_id: str, request: Request, viewer: Viewer) -> EventSourceResponse:
    """Server-Sent Events: a `snapshot` first, then `change`, `levels`, `audience`,
    `reaction`, `pinned`, `stage`, `recording` messages, each authorised for this viewer
    when it is sent; `denied` (with a `code`) ends the stream of someone who may no
    longer view the Space. The stream ends when the Space ends."""
    svc = services(request)
    viewer_id = viewer.id if viewer else None
    # Counted per client address (not per account: anonymous viewers are most of them).
    slot = svc.event_streams.take(client_key(request, None), "live-event streams")
    feed = svc.feed(space_id, viewer_id)  # subscribed first: nothing falls in between
    try:
        snapshot, room = await svc.commands.view(space_id, viewer_id, public_base(request))
        first = [{"type": "snapshot", "space": snapshot.model_dump(mode="json")}]
        # The figures for this client only: publishing them to everyone on every new
        # connection would be O(listeners²) messages during a join storm.
        if await svc.on_air(space_id):
            first.append(await svc.audience_message(space_id))
    except BaseException:
        feed.close()
        slot.release()
        raise

    async def stream() -> AsyncIterator[dict[str, str]]:
        try:
            async for message in feed.messages(room, first):
                yield {"event": message["type"],
                       "data": json.dumps(message, separators=(",", ":"))}
        finally:
            slot.release()

    return EventSourceResponse(
        stream(),
        ping=HEARTBEAT_SECONDS,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.post("/reactions", status_code=202)
async def react(space_id: str, body: ReactionIn, request: Request, viewer: Viewer) -> dict[str, str]:
    svc = services(request)
    if body.emoji not in REACTIONS:
        raise BadRequest(f"react with one of {' '.join(REACTIONS)}")
    room = await svc.commands.room(space_id)
    room.authorize("react", viewer.id if viewer else None)
    if room.state != SpaceState.LIVE:
        raise BadRequest("reactions are for live Spaces")
    await svc.reactions.hit(client_key(request, viewer), "reactions")
    svc.bus.publish(space_id, {"type": "reaction", "emoji": body.emoji,
                               "user": viewer.username if viewer else None})
    return {"status": "sent"}


@router.put("/pinned", response_model=SpaceOut)
async def pin_link(space_id: str, body: PinIn, request: Request, user: SignedIn) -> SpaceOut:
    return await _set_pin(request, space_id, user, str(body.url))


@router.delete("/pinned", response_model=SpaceOut)
async def unpin_link(space_id: str, request: Request, user: SignedIn) -> SpaceOut:
    return await _set_pin(request, space_id, user, None)


async def _set_pin(request: Request, space_id: str, user: User, url: str | None) -> SpaceOut:
    def check(room: Room):  # type: ignore[no-untyped-def]
        room.authorize("pin_link", user.id)
        if room.state not in (SpaceState.SCHEDULED, SpaceState.LIVE):
            raise BadRequest("Links can be pinned before and during a Space, "
                             f"not once it is {room.state}.")
        return room, ()

    def store(_db, space: Space) -> None:  # type: ignore[no-untyped-def]
        space.pinned_url = url

    out = await act(request, space_id, user, check, before=store)
    services(request).bus.publish(space_id, {"type": "pinned", "url": url})
    return out


@router.post("/reminder", status_code=204, response_class=Response)
def remind_me(space_id: str, request: Request, user: SignedIn) -> Response:
    with services(request).db.session() as db:
        _, room = room_store.load(db, space_id)
        room.authorize("remind", user.id)
        if room.state != SpaceState.SCHEDULED:
            raise BadRequest("reminders are for Spaces that have not started")
        if db.get(Reminder, (space_id, user.id)) is None:
            db.add(Reminder(space_id=space_id, user_id=user.id))
    return Response(status_code=204)


@router.delete("/reminder", status_code=204, response_class=Response)
def forget_reminder(space_id: str, request: Request, user: SignedIn) -> Response:
    with services(request).db.session() as db:
        _, room = room_store.load(db, space_id)
        room.authorize("remind", user.id)
        reminder = db.get(Reminder, (space_id, user.id))
        if reminder is not None:
            db.delete(reminder)
    return Response(status_code=204)


@router.get("/calendar.ics", response_class=Response,
            responses={200: {"content": {"text/calendar": {"schema": {"type": "string"}}}}})
def calendar(space_id: str, request: Request, viewer: Viewer) -> Response:
    with services(request).db.session() as db:
        space, room = room_store.load(db, space_id)
        room.authorize("view", viewer.id if viewer else None)
        start, end = _calendar_times(space, datetime.now(UTC))
        title, description = space.title, space.description or ""
        cancelled = space.state == "cancelled"
    url = f"{public_base(request)}/s/{space_id}"
    # icalendar escapes (commas, semicolons, CR and LF in a title) and folds long lines.
    event = icalendar.Event()
    event.add("uid", f"{space_id}@townhall")
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("summary", title)
    event.add("description", (description + "\n" + url).strip())
    event.add("url", url)
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Townhall//Spaces//EN")
    calendar.add("version", "2.0")
    calendar.add_component(event)
    return Response(
        calendar.to_ical(),
        media_type="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="townhall-{space_id}.ics"'},
    )


def _calendar_times(space: Space, now: datetime) -> tuple[datetime, datetime]:
    """When the Space happens, for a calendar: as scheduled; a "now" Space that has not
    started yet starts now (not at its creation, already past); a live or finished one
    from its real start, to its real end once it has one."""
    utc = lambda moment: moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment  # noqa: E731
    if space.started_at is not None:
        start = utc(space.started_at)
    elif space.scheduled_start is not None:
        start = utc(space.scheduled_start)
    else:
        start = max(utc(space.created_at), now)
    end = utc(space.ended_at) if space.ended_at is not None and space.started_at else None
    return start, end or start + CALENDAR_DURATION

