"""Spaces: create/schedule, list, show, edit, go live, end, cancel, WHIP credentials."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session as OrmSession

from townhall import limits
from townhall.app.runtime import MediaElsewhere
from townhall.store import rooms as room_store
from townhall.http.common.deps import current_user, public_base, require_user, services
from townhall.http.common.errors_doc import API_ERRORS
from townhall.domain.events import event_json
from townhall.domain.errors import BadRequest
from townhall.http.delivery.signed import privacy
from townhall.domain import FINAL, Decision, Event, IllegalTransition, Role, Room, SpaceState
from townhall.domain.permissions import Actor
from townhall.store.db import new_token
from townhall.store.models import Reminder, Space, User, WhipToken, utcnow

router = APIRouter(prefix="/api/spaces", tags=["spaces"], responses=API_ERRORS)
# Spaces shown in each list on the home page.
LIST_LIMIT = 20
SPACE_ID_BYTES = 8  # 11 URL-safe characters: unguessable enough for a share link
# A start time this little in the past still counts as "now" (clock skew, slow forms).
SCHEDULE_GRACE = timedelta(minutes=2)


def _as_utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every time we store is UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


Topic = Annotated[str, Field(min_length=1, max_length=limits.MAX_TOPIC_LENGTH)]
Title = Annotated[str, Field(min_length=1, max_length=limits.MAX_TITLE_LENGTH)]


def _clean_topics(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    cleaned = [t.strip() for t in value]
    if any(not t for t in cleaned):
        raise ValueError("topics must not be blank")
    if len({t.lower() for t in cleaned}) != len(cleaned):
        raise ValueError("topics must be different")
    return cleaned


def _clean_title(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("title must not be blank")
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
            raise ValueError("give a time zone, e.g. 2026-12-01T18:00:00Z")
        now = datetime.now(UTC)
        if value < now - SCHEDULE_GRACE:
            raise ValueError("the start time is in the past")
        if value > now + timedelta(days=limits.MAX_SCHEDULE_AHEAD_DAYS):
            raise ValueError(f"a Space can be scheduled at most {limits.MAX_SCHEDULE_AHEAD_DAYS} days ahead")
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


class UserRef(BaseModel):
    id: int
    username: str


class SpeakerOut(UserRef):
    role: Literal["host", "cohost", "speaker"]
    on_stage: bool
    muted: bool


class SpaceOut(BaseModel):
    id: str
    title: str
    description: str
    topics: list[str]
    state: SpaceState
    host: UserRef
    speakers: list[SpeakerOut]
    hands: list[UserRef]
    invited: list[UserRef]
    # Invite-only: hls_url and replay_url then answer 403; GET .../playback gives signed
    # URLs to members. Guests: people a moderator invited to listen.
    private: bool
    guests: list[UserRef]
    pinned_url: str | None
    listeners: int
    created_at: datetime
    scheduled_start: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    page_url: str
    hls_url: str
    replay_url: str | None
    your_role: Role
    your_id: int | None
    reminded: bool
    # Why recording is paused (e.g. the disk is full), or null; listening is unaffected.
    recording_error: str | None

    @field_validator("created_at", "scheduled_start", "started_at", "ended_at")
    @classmethod
    def utc(cls, value: datetime | None) -> datetime | None:
        return _as_utc(value)


class SpaceList(BaseModel):
    live: list[SpaceOut]
    upcoming: list[SpaceOut]
    recent: list[SpaceOut]


class StageOut(BaseModel):
    whip_url: str
    token: str


def space_out(request: Request, db: OrmSession, space: Space, room: Room, viewer: User | None) -> SpaceOut:
    svc = services(request)
    base = public_base(request)
    on_stage = svc.on_stage(space.id)
    speaker_ids = [room.host_id, *sorted(room.cohosts), *sorted(room.speakers)]
    ids = {*speaker_ids, *room.hands, *room.invited, *room.guests}
    users = {u.id: u for u in db.scalars(select(User).where(User.id.in_(ids)))}
    speakers = [
        SpeakerOut(
            id=uid,
            username=users[uid].username,
            role=room.role_of(uid).value,  # type: ignore[arg-type]
            on_stage=uid in on_stage,
            muted=uid in room.muted,
        )
        for uid in speaker_ids
        if uid in users
    ]
    refs = lambda group: [UserRef(id=u, username=users[u].username) for u in group if u in users]  # noqa: E731
    reminded = viewer is not None and db.get(Reminder, (space.id, viewer.id)) is not None
    return SpaceOut(
        id=space.id,
        title=space.title,
        description=space.description or "",
        topics=list(space.topics or []),
        state=room.state,
        host=UserRef(id=room.host_id, username=users[room.host_id].username),
        speakers=speakers,
        hands=refs(room.hands),
        invited=refs(sorted(room.invited)),
        private=room.private,
        guests=refs(sorted(room.guests)),
        pinned_url=space.pinned_url,
        listeners=svc.listeners_now(space.id),
        created_at=space.created_at,
        scheduled_start=space.scheduled_start,
        started_at=space.started_at,
        ended_at=space.ended_at,
        page_url=f"{base}/s/{space.id}",
        hls_url=f"{base}/hls/{space.id}/live.m3u8",
        replay_url=f"{base}/hls/{space.id}/replay.m3u8" if room.state == SpaceState.ENDED else None,
        your_role=room.role_of(viewer.id if viewer else None),
        your_id=viewer.id if viewer else None,
        reminded=reminded,
        recording_error=media.recorder.last_error if (media := svc.media.get(space.id)) else None,
    )


Viewer = Annotated[User | None, Depends(current_user)]
SignedIn = Annotated[User, Depends(require_user)]


async def act(request: Request, space_id: str, viewer: User | None, command: Callable[[Room], Decision],
              before: Callable[[OrmSession, Space], None] | None = None) -> SpaceOut:
    """Apply a Room command, persist it, carry out its effects and tell live clients."""
    svc = services(request)
    with svc.db.session() as db:
        space, room, events = room_store.decide(db, space_id, command)
        if before is not None:
            before(db, space)
    await svc.apply(space_id, events)
    with svc.db.session() as db:
        space, room = room_store.load(db, space_id)
        neutral = space_out(request, db, space, room, None)
        out = space_out(request, db, space, room, viewer)
    publish_change(request, space_id, events, neutral)
    if room.state in FINAL:
        svc.bus.close_space(space_id)  # live clients' streams end with the Space
    return out


def publish_change(request: Request, space_id: str, events: tuple[Event, ...], neutral: SpaceOut) -> None:
    """Tell live clients; sent even without room events (an edit, a pinned link)."""
    services(request).bus.publish(
        space_id,
        {"type": "change", "events": [event_json(e) for e in events],
         "space": neutral.model_dump(mode="json")},
    )


@router.post("", status_code=201, response_model=SpaceOut)
def create_space(body: SpaceCreate, request: Request, user: SignedIn) -> SpaceOut:
    with services(request).db.session() as db:
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


@router.get("", response_model=SpaceList)
def list_spaces(request: Request, viewer: Viewer) -> SpaceList:
    with services(request).db.session() as db:
        def outs(query) -> list[SpaceOut]:  # type: ignore[no-untyped-def]
            return visible(request, db, query, viewer, LIST_LIMIT)

        by_state = lambda state: select(Space).where(Space.state == state)  # noqa: E731
        return SpaceList(
            live=outs(by_state("live").order_by(Space.started_at.desc())),
            upcoming=outs(by_state("scheduled").order_by(Space.scheduled_start.asc().nulls_last())),
            recent=outs(by_state("ended").order_by(Space.ended_at.desc())),
        )


def visible(request: Request, db: OrmSession, query, viewer: User | None,  # type: ignore[no-untyped-def]
            limit: int) -> list[SpaceOut]:
    """The first `limit` Spaces of `query` this viewer may see: a private Space only
    for its members (anonymous viewers never see one)."""
    if viewer is None:
        query = query.where(Space.private.is_(False))
    else:
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
def get_space(space_id: str, request: Request, viewer: Viewer) -> SpaceOut:
    with services(request).db.session() as db:
        space, room = room_store.load(db, space_id)
        room.authorize("view", viewer.id if viewer else None)
        return space_out(request, db, space, room, viewer)


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


@router.post("/{space_id}/live", response_model=SpaceOut)
async def go_live(space_id: str, request: Request, user: SignedIn) -> SpaceOut:
    def started(_: OrmSession, space: Space) -> None:
        space.started_at = utcnow()

    out = await act(request, space_id, user, lambda room: room.go_live(user.id), before=started)
    try:
        await services(request).start_media(space_id, recording=True)
    except MediaElsewhere:
        pass  # cluster: the node running its waiting room records from now on
    return out


def _closed(space_id: str) -> Callable[[OrmSession, Space], None]:
    """What ending or cancelling stores besides the state: when, and no more WHIP."""

    def close(db: OrmSession, space: Space) -> None:
        space.ended_at = utcnow()
        room_store.revoke_tokens(db, space_id)

    return close


@router.post("/{space_id}/end", response_model=SpaceOut)
async def end_space(space_id: str, request: Request, user: SignedIn) -> SpaceOut:
    return await act(request, space_id, user, lambda room: room.end(user.id), before=_closed(space_id))


@router.post("/{space_id}/cancel", response_model=SpaceOut)
async def cancel_space(space_id: str, request: Request, user: SignedIn) -> SpaceOut:
    return await act(request, space_id, user, lambda room: room.cancel(user.id), before=_closed(space_id))


@router.post("/{space_id}/stage", response_model=StageOut)
def get_stage_credentials(space_id: str, request: Request, user: SignedIn) -> StageOut:
    """WHIP credentials for this speaker in this Space (a new token each call)."""
    with services(request).db.session() as db:
        _, room = room_store.load(db, space_id)
        room.check_can_publish(user.id)
        token, token_hash = new_token()
        db.add(WhipToken(token_hash=token_hash, space_id=space_id, user_id=user.id))
    return StageOut(whip_url=f"{public_base(request)}/whip/{space_id}", token=token)


__all__ = ["Actor", "SpaceOut", "act", "router", "space_out"]
