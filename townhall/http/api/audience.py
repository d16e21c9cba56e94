"""Player beacons in, audience figures out (method: townhall/backends/memory/audience.py, README)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from townhall.store import rooms as room_store
from townhall.store.models import User
from townhall.app.presenters import ListenersOut, present_listeners
from townhall.app.runtime import Services
from townhall.http.common.deps import client_key, current_user, services
from townhall.http.common.errors_doc import API_ERRORS
from townhall.backends.audience import CONCURRENT_WINDOW
from townhall.backends.memory.audience import AudienceCounter
from townhall import limits
from townhall.limits import BEACON_INTERVAL, MAX_LISTED_LISTENERS
from townhall.domain.errors import BadRequest
from townhall import threads

router = APIRouter(prefix="/api/spaces/{space_id}", tags=["audience"], responses=API_ERRORS)
Viewer = Annotated[User | None, Depends(current_user)]


class Beacon(BaseModel):
    # A random id the player makes when it starts: no cookie, no account.
    session: str = Field(pattern=r"^[A-Za-z0-9_-]{16,64}$")
    # A signed-in listener who would rather not be named: counted like anyone, never
    # listed in who is listening (GET .../listeners), as an anonymous player is.
    incognito: bool = False
    # A player's first beacon may say how long it took from pressing play to hearing
    # audio (ms): the incident timeline's time to first audio. Optional.
    first_audio_ms: int | None = Field(None, ge=0, le=limits.MAX_FIRST_AUDIO_MS)


class AudienceOut(BaseModel):
    concurrent: int
    peak: int
    unique: int
    # [unix time, concurrent listeners] pairs (plain arrays: small, and easy to plot)
    samples: list[list[float]]
    joins_per_minute: list[list[int]]  # [minute start (unix time), joins] pairs
    beacon_interval: float
    concurrent_window: float
    live: bool


def _must_exist(svc: Services, space_id: str) -> None:
    """NotFound if there is no such Space. Blocking (the database): run it in a thread."""
    with svc.db.session() as db:
        room_store.load(db, space_id)


def _ended_figures(svc: Services, space_id: str) -> dict[str, object]:
    """The figures stored when the Space went off air (NotFound if there is no such
    Space). Blocking (the database): run it in a worker thread."""
    with svc.db.session() as db:
        space, _ = room_store.load(db, space_id)
        return AudienceCounter.from_summary(space.audience or {}).summary(time.time())


@router.post("/beacon", status_code=204, response_class=Response)
async def beacon(space_id: str, body: Beacon, request: Request, viewer: Viewer) -> Response:
    """A playing listener says so every BEACON_INTERVAL seconds. Anyone listening counts;
    a signed-in listener is also who is listening now (GET .../listeners), unless they
    listen `incognito` (counted, not shown)."""
    svc = services(request)
    if not await svc.on_air(space_id):
        await threads.run(threads.DATABASE, _must_exist, svc, space_id)  # 404 for an unknown Space
        raise BadRequest("this Space is not on air")
    address = client_key(request, None)
    await svc.beacons.hit(address, "audience beacons")
    now = time.time()
    if not await svc.audience.playing(space_id, body.session, now):
        # A new listener: each address brings a bounded number to a Space (named limit).
        await svc.new_listeners.hit(f"{address}:{space_id}", "new listeners from this address")
        if body.first_audio_ms is not None:  # a new listener's: one sample per player
            svc.incidents.first_audio(space_id, body.first_audio_ms / 1000)
    named = viewer.id if viewer is not None and not body.incognito else None
    await svc.audience.beat(space_id, body.session, now, named)
    return Response(status_code=204)


@router.get("/listeners", response_model=ListenersOut)
async def listeners(space_id: str, request: Request, response: Response,
                    viewer: Viewer) -> ListenersOut:
    """Who is listening now, for anyone who may view the Space: signed-in listeners by
    face (at most MAX_LISTED_LISTENERS, the latest first, each with what you may do to
    them), anonymous players counted. Speakers are not listed (they are the Space's
    `speakers`), nor anyone removed, blocked or not allowed to listen."""
    svc = services(request)
    viewer_id = viewer.id if viewer else None
    room = await svc.commands.room(space_id)
    room.authorize("view", viewer_id)
    response.headers["Cache-Control"] = "private, no-store"
    if not await svc.on_air(space_id):
        return ListenersOut(people=[], anonymous=0, total=0)
    now = time.time()
    leave_out = room.on_speaker_list | room.removed | room.blocked
    ids, anonymous = await svc.audience.listening(space_id, now, MAX_LISTED_LISTENERS, leave_out)
    total, _, _ = await svc.audience.headline(space_id, now)

    def present() -> ListenersOut:
        with svc.db.session() as db:
            return present_listeners(db, room, viewer_id, ids, anonymous, total)

    return await threads.run(threads.DATABASE, present)


@router.get("/audience", response_model=AudienceOut)
async def audience(space_id: str, request: Request, viewer: Viewer) -> AudienceOut:
    """Concurrent, peak and unique listeners, and the series behind the plot: there for
    anyone who may view the Space to check (a private Space's only for its members)."""
    svc = services(request)
    room = await svc.commands.room(space_id)  # NotFound for no such Space
    room.authorize("view", viewer.id if viewer else None)
    # On air is what makes the figures live, not whether a beacon or sample came yet.
    live = await svc.on_air(space_id)
    if live:
        figures = await svc.audience.summary(space_id, time.time())
    else:
        figures = await threads.run(threads.DATABASE, _ended_figures, svc, space_id)
    return AudienceOut(
        concurrent=figures["concurrent"] if live else 0,  # type: ignore[arg-type]
        peak=figures["peak"],  # type: ignore[arg-type]
        unique=figures["unique"],  # type: ignore[arg-type]
        samples=figures["samples"],  # type: ignore[arg-type]
        joins_per_minute=figures["joins_per_minute"],  # type: ignore[arg-type]
        beacon_interval=BEACON_INTERVAL,
        concurrent_window=CONCURRENT_WINDOW,
        live=live,
    )
