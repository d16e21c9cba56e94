"""The incident timeline of a Space (method and rules: townhall/domain/incidents.py, README
"Incident timeline"): for anyone who may view the Space, like its audience figures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from townhall import threads
from townhall.app.incidents import rules_written, stored_timeline, timeline
from townhall.domain.incidents import Tally
from townhall.http.common.deps import current_user, services
from townhall.http.common.errors_doc import API_ERRORS
from townhall.store import rooms as room_store
from townhall.store.models import User

router = APIRouter(prefix="/api/spaces/{space_id}", tags=["incidents"], responses=API_ERRORS)
Viewer = Annotated[User | None, Depends(current_user)]


class TimelineOut(BaseModel):
    live: bool
    bucket_seconds: float
    # One object per bucket with traffic, oldest first: the figures (README "Incident
    # timeline"), `verdict` (healthy, overloaded, under_attack, degraded), the `rule`
    # that gave it (an id in `rules`) and its `reason` in this minute's numbers.
    minutes: list[dict[str, object]]
    rules: list[dict[str, str]]


@router.get("/timeline", response_model=TimelineOut)
async def space_timeline(space_id: str, request: Request, response: Response,
                         viewer: Viewer) -> TimelineOut:
    """What happened to the Space, minute by minute, with a verdict per minute and the
    rule that gave it. Public for a public Space; a private Space's for its members."""
    svc = services(request)
    room = await svc.commands.room(space_id)  # NotFound for no such Space
    room.authorize("view", viewer.id if viewer else None)
    response.headers["Cache-Control"] = "no-store"
    live = await svc.on_air(space_id)
    tallies: list[Tally]
    if live:
        tallies, seconds = await svc.incidents.tallies(space_id), svc.incidents.bucket_seconds
    else:
        def stored() -> tuple[list[Tally], float]:
            with svc.db.session() as db:
                space, _ = room_store.load(db, space_id)
                return stored_timeline(space.audience)

        tallies, seconds = await threads.run(threads.DATABASE, stored)
    return TimelineOut(live=live, bucket_seconds=seconds, minutes=timeline(tallies, seconds),
                       rules=rules_written())
