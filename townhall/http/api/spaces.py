"""Spaces: create/schedule, list, show, edit, go live, end, cancel, WHIP credentials."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta
from collections.abc import Callable
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AfterValidator, BaseModel, Field, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import func, select
from sqlalchemy.orm import Session as OrmSession

from townhall import limits, threads
from townhall.app.presenters import SpaceOut, present
from townhall.app.spaces import closed
from townhall.store import rooms as room_store
from townhall.store import search as search_store
from townhall.store.discover import fresh_upcoming
from townhall.http.common.deps import client_key, current_user, public_base, require_user, services
from townhall.http.common.errors_doc import API_ERRORS, error_responses
from townhall.http.common.forward import forward, was_forwarded
from townhall.domain.capacity import NodeFull
from townhall.domain.errors import LIMIT_REACHED, BadRequest, Conflict
from townhall.http.delivery.signed import privacy
from townhall.domain import Decision, IllegalTransition, Room, SpaceState
from townhall.store.db import new_token
from townhall.store.models import Space, User, WhipToken, utcnow

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/spaces", tags=["spaces"], responses=API_ERRORS)
# Spaces shown in each list on the home page.
LIST_LIMIT = 20
SPACE_ID_BYTES = 8  # 11 URL-safe characters: unguessable enough for a share link
# A start time this little in the past still counts as "now" (clock skew, slow forms).
SCHEDULE_GRACE = timedelta(minutes=2)


Topic = Annotated[str, Field(min_length=1, max_length=limits.MAX_TOPIC_LENGTH)]
Title = Annotated[str, Field(min_length=1, max_length=limits.MAX_TITLE_LENGTH)]


def _clean_topics(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    cleaned = [t.strip() for t in value]
    if any(not t for t in cleaned):
        raise PydanticCustomError("blank", "topics must not be blank")
    if len({t.lower() for t in cleaned}) != len(cleaned):
        raise PydanticCustomError("duplicate", "topics must be different")
    return cleaned


def _clean_title(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise PydanticCustomError("blank", "title must not be blank")
    return None if value is None else value.strip()


class SpaceCreate(BaseModel):
    title: Title
    description: str = Field("", max_length=limits.MAX_DESCRIPTION_LENGTH)
    topics: list[Topic] = Field(default_factory=list, max_length=limits.MAX_TOPICS)
    scheduled_start: datetime | None = None
    # Invite-only listening: members only (host, co-hosts, speakers, the guest list).
    private: bool = False

    _title = field_validator("title")(_clean_title)
    _topics = field_validator("topics")(_clean_topics)

    @field_validator("scheduled_start")
    @classmethod
    def within_schedule_window(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise PydanticCustomError("no_time_zone", "give a time zone, e.g. 2026-12-01T18:00:00Z")
        now = datetime.now(UTC)
        if value < now - SCHEDULE_GRACE:
            raise PydanticCustomError("in_the_past", "the start time is in the past")
        if value > now + timedelta(days=limits.MAX_SCHEDULE_AHEAD_DAYS):
            raise PydanticCustomError("too_far_ahead",
                                      "a Space can be scheduled at most {days} days ahead",
                                      {"days": limits.MAX_SCHEDULE_AHEAD_DAYS})
        return value.astimezone(UTC)


class SpaceEdit(BaseModel):
    """Only the fields given change; each is checked like at creation (a 422, never a
    500 from the handler)."""

    title: Title | None = None
    description: str | None = Field(None, max_length=limits.MAX_DESCRIPTION_LENGTH)
    topics: list[Topic] | None = Field(None, max_length=limits.MAX_TOPICS)
    private: bool | None = None  # only before the Space starts

    _title = field_validator("title")(_clean_title)
    _topics = field_validator("topics")(_clean_topics)


class SpaceList(BaseModel):
    live: list[SpaceOut]
    upcoming: list[SpaceOut]
    recent: list[SpaceOut]


class StageOut(BaseModel):
    whip_url: str
    token: str


def space_out(request: Request, db: OrmSession, space: Space, room: Room,
              viewer: User | None) -> SpaceOut:
    """The Space as `viewer` sees it, inside a database session (a sync route)."""
    svc = services(request)
    return present(db, space, room, viewer.id if viewer else None, public_base(request),
                   svc.live_facts(space.id))


Viewer = Annotated[User | None, Depends(current_user)]
SignedIn = Annotated[User, Depends(require_user)]


async def act(request: Request, space_id: str, viewer: User | None,
              command: Callable[[Room], Decision],
              before: Callable[[OrmSession, Space], None] | None = None) -> SpaceOut:
    """Carry out a Room command (townhall/app/spaces.py: decided, persisted, its effects
    carried out and live clients told, under the Space's lock)."""
    outcome = await services(request).commands.act(
        space_id, viewer.id if viewer else None, command, public_base(request), before)
    # Already JSON (made off the event loop): FastAPI would validate it all again.
    return Response(outcome.space, media_type="application/json")  # type: ignore[return-value]


@router.post("", status_code=201, response_model=SpaceOut)
async def create_space(body: SpaceCreate, request: Request, user: SignedIn) -> SpaceOut:
    svc = services(request)
    await svc.space_creations.hit(client_key(request, user), "new Spaces")
    out = await threads.run(threads.DATABASE, _create, body, request, user)
    if body.scheduled_start is not None:  # news to followers (queued: never waited for)
        svc.notifier.scheduled(out.id, user.id, body.private)
    return out


def _create(body: SpaceCreate, request: Request, user: User) -> SpaceOut:
    svc = services(request)
    with svc.db.session() as db:
        waiting = db.scalar(select(func.count()).select_from(Space).where(
            Space.host_id == user.id, Space.state == SpaceState.SCHEDULED.value))
        cap = svc.settings.max_scheduled_spaces_per_host
        if waiting >= cap:
            raise Conflict(f"You already have {cap} Spaces that have not started: start, "
                           "cancel or wait for one of them before making another.",
                           LIMIT_REACHED)
        space = Space(
            id=secrets.token_urlsafe(SPACE_ID_BYTES),
            title=body.title,
            description=body.description,
            topics=body.topics,
            host_id=user.id,
            scheduled_start=body.scheduled_start,
            private=body.private,
        )
        db.add(space)
        db.flush()
        return space_out(request, db, space, Room(host_id=user.id, private=body.private), user)


def _search_words(value: str | None) -> str | None:
    """A list's `q`: blank is no filter; otherwise GET /api/search's limits."""
    if value is None or not value.strip():
        return None
    if len(search_store.terms(value)) > limits.MAX_SEARCH_WORDS:
        raise PydanticCustomError("too_many_words", "use at most {max} words",
                                  {"max": limits.MAX_SEARCH_WORDS})
    return value


ListQuery = Annotated[
    str | None,
    Query(max_length=limits.MAX_SEARCH_QUERY_LENGTH,
          description="Only Spaces this search finds (as GET /api/search: title, topics, "
                      "description, host; every word must match the beginning of a word)"),
    AfterValidator(_search_words)]


@router.get("", response_model=SpaceList)
def list_spaces(request: Request, viewer: Viewer, q: ListQuery = None) -> SpaceList:
    """Live (latest first), upcoming (soonest first) and recent replays, LIST_LIMIT each;
    with `q`, only those the search index finds (same order)."""
    with services(request).db.session() as db:
        def outs(query) -> list[SpaceOut]:  # type: ignore[no-untyped-def]
            return visible(request, db, query, viewer, LIST_LIMIT)

        found = None
        if q is not None:
            words = search_store.terms(q)
            if not words:  # only punctuation: nothing to look for, nothing found
                return SpaceList(live=[], upcoming=[], recent=[])
            found = Space.id.in_(search_store.matching_spaces(db, words))

        def by_state(state: str):  # type: ignore[no-untyped-def]
            query = select(Space).where(Space.state == state)
            return query if found is None else query.where(found)

        # A Space whose start is long past no longer promises "starting soon" to anyone
        # but its host (it expires later: townhall/app/lifecycle.py).
        stale = utcnow() - timedelta(seconds=services(request).settings.upcoming_grace)
        fresh = fresh_upcoming(stale, viewer.id if viewer else None)
        return SpaceList(
            live=outs(by_state("live").order_by(Space.started_at.desc())),
            upcoming=outs(by_state("scheduled").where(fresh)
                          .order_by(Space.scheduled_start.asc().nulls_last())),
            recent=outs(by_state("ended").order_by(Space.ended_at.desc())),
        )


def visible(request: Request, db: OrmSession, query, viewer: User | None,  # type: ignore[no-untyped-def]
            limit: int) -> list[SpaceOut]:
    """The first `limit` Spaces of `query` this viewer may see: a private Space only
    for its members (anonymous viewers never see one)."""
    # Private Spaces only where the viewer is host or member (the Room still decides
    # below): the others are never read.
    query = query.where(room_store.maybe_visible(viewer.id if viewer else None))
    if viewer is not None:
        query = query.execution_options(yield_per=limit)
    found = []
    for space in db.scalars(query if viewer is not None else query.limit(limit)):
        room = room_store.load(db, space.id)[1]
        if room.may("view", viewer.id if viewer else None):
            found.append(space_out(request, db, space, room, viewer))
            if len(found) == limit:
                break
    return found


@router.get("/{space_id}", response_model=SpaceOut)
async def get_space(space_id: str, request: Request, viewer: Viewer) -> SpaceOut:
    out, _ = await services(request).commands.view(space_id, viewer.id if viewer else None,
                                                   public_base(request))
    return out


@router.patch("/{space_id}", response_model=SpaceOut)
async def edit_space(space_id: str, body: SpaceEdit, request: Request, user: SignedIn) -> SpaceOut:
    def command(room: Room) -> Decision:
        room.authorize("edit", user.id)
        if room.state not in (SpaceState.SCHEDULED, SpaceState.LIVE):
            raise BadRequest(f"a {room.state} Space cannot be edited")
        if body.private not in (None, room.private) and room.state != SpaceState.SCHEDULED:
            raise IllegalTransition("a Space can become private or public only before it starts")
        return room, ()

    def update(_: OrmSession, space: Space) -> None:
        if body.title is not None:
            space.title = body.title
        if body.description is not None:
            space.description = body.description
        if body.topics is not None:
            space.topics = body.topics
        if body.private is not None:
            space.private = body.private

    out = await act(request, space_id, user, command, before=update)
    privacy(request).forget(space_id)  # this node's plain HLS URLs follow at once
    return out


# The lock go-lives on this node take turns under (after their host's).
MIXING_ADMISSION = "node:mixing-admission"


@router.post("/{space_id}/live", response_model=SpaceOut,
             responses=error_responses(503))  # node_full: this node mixes all it can
async def go_live(space_id: str, request: Request, user: SignedIn) -> SpaceOut:
    svc = services(request)

    def started(db: OrmSession, space: Space) -> None:
        # Counted in the deciding transaction, under the host's own lock (below): two
        # go-lives of one host at once cannot both slip under the cap.
        live = db.scalar(select(func.count()).select_from(Space).where(
            Space.host_id == user.id, Space.state == SpaceState.LIVE.value, Space.id != space.id))
        cap = svc.settings.max_live_spaces_per_host
        if live >= cap:
            raise Conflict(f"You are already live in {cap} Spaces: end one before "
                           "starting another.", LIMIT_REACHED)
        space.started_at = utcnow()

    # Its media starts (or a waiting room starts recording) as the decision's effect.
    # A node that cannot mix one more Space decides nothing: in a cluster it hands the
    # go-live to the node with most room, which decides and mixes it; with none, 503
    # node_full. Go-lives take turns here so two at once cannot both slip in.
    async with svc.locks.hold(f"host:{user.id}"), svc.locks.hold(MIXING_ADMISSION):
        try:
            svc.host.admit_space(space_id)
        except NodeFull:
            roomier = None if was_forwarded(request) else await svc.host.node_with_room()
            if roomier is None:
                raise
        else:
            return await act(request, space_id, user, lambda room: room.go_live(user.id),
                             before=started)
    return await _hand_over(roomier, request)


# What a go-live handed to another node needs: the person's session (or token), and the
# Origin and Host the first node already checked, so the other checks the same.
_GO_LIVE_HEADERS = ("cookie", "authorization", "content-type", "origin", "host",
                    "x-forwarded-proto")


async def _hand_over(node: str, request: Request) -> Response:
    try:
        return await forward(node, request, await request.body(), _GO_LIVE_HEADERS)
    except httpx.HTTPError:  # it died since it reported: this node's own answer stands
        log.warning("handing a go-live to %s failed", node)
        raise NodeFull("Every server is mixing as many Spaces as it can right now. "
                       "Try again in a minute.") from None


@router.post("/{space_id}/end", response_model=SpaceOut)
async def end_space(space_id: str, request: Request, user: SignedIn) -> SpaceOut:
    return await act(request, space_id, user, lambda room: room.end(user.id), before=closed(space_id))


@router.post("/{space_id}/cancel", response_model=SpaceOut)
async def cancel_space(space_id: str, request: Request, user: SignedIn) -> SpaceOut:
    return await act(request, space_id, user, lambda room: room.cancel(user.id), before=closed(space_id))


@router.post("/{space_id}/stage", response_model=StageOut)
async def get_stage_credentials(space_id: str, request: Request, user: SignedIn) -> StageOut:
    """WHIP credentials for this speaker in this Space (a new token each call)."""
    await services(request).stage_tokens.hit(client_key(request, user), "stage credentials")
    return await threads.run(threads.DATABASE, _stage_credentials, space_id, request, user)


def _stage_credentials(space_id: str, request: Request, user: User) -> StageOut:
    with services(request).db.session() as db:
        _, room = room_store.load(db, space_id)
        room.check_can_publish(user.id)
        token, token_hash = new_token()
        db.add(WhipToken(token_hash=token_hash, space_id=space_id, user_id=user.id))
    return StageOut(whip_url=f"{public_base(request)}/whip/{space_id}", token=token)


__all__ = ["SpaceOut", "act", "router", "space_out"]
