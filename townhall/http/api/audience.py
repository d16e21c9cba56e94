"""Player beacons in, audience figures out (method: townhall/backends/memory/audience.py, README)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from townhall.store import rooms as room_store
from townhall.app.runtime import Services
from townhall.http.common.deps import client_key, services
from townhall.http.common.errors_doc import API_ERRORS
from townhall.backends.audience import CONCURRENT_WINDOW
from townhall.backends.memory.audience import AudienceCounter
from townhall.limits import BEACON_INTERVAL
from townhall.domain.errors import BadRequest
from townhall import threads

router = APIRouter(prefix="/api/spaces/{space_id}", tags=["audience"], responses=API_ERRORS)


class Beacon(BaseModel):
    # A random id the player makes when it starts: no cookie, no account.
    session: str = Field(pattern=r"^[A-Za-z0-9_-]{16,64}$")


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
async def beacon(space_id: str, body: Beacon, request: Request) -> Response:
    """A playing listener says so every BEACON_INTERVAL seconds. Anyone listening counts."""
    svc = services(request)
    if not await svc.on_air(space_id):
        await threads.run(threads.DATABASE, _must_exist, svc, space_id)  # 404 for an unknown Space
        raise BadRequest("this Space is not on air")
    svc.beacons.hit(client_key(request, None), "audience beacons")
    await svc.audience.beat(space_id, body.session, time.time())
    return Response(status_code=204)


@router.get("/audience", response_model=AudienceOut)
async def audience(space_id: str, request: Request) -> AudienceOut:
    """Concurrent, peak and unique listeners, and the series behind the plot. Public:
    the figures are there for anyone to check."""
    svc = services(request)
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
