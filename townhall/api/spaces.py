"""Spaces: create, list, show, go live, end, invite speakers, get WHIP credentials."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session as OrmSession

from townhall import limits
from townhall.api.deps import current_user, public_base, require_user, services
from townhall.errors import NotFound
from townhall.rooms import Role, Room, SpaceState
from townhall.store.db import new_token
from townhall.store.models import Invite, Space, SpaceSpeaker, User, WhipToken, utcnow

router = APIRouter(prefix="/api/spaces", tags=["spaces"])
# Recent replays shown on the home page.
RECENT_SPACES = 20
SPACE_ID_BYTES = 8  # 11 URL-safe characters: unguessable enough for a share link


class SpaceCreate(BaseModel):
    title: str = Field(min_length=1, max_length=limits.MAX_TITLE_LENGTH)

    @field_validator("title")
    @classmethod
    def not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title must not be blank")
        return value.strip()


class UserRef(BaseModel):
    id: int
    username: str


class SpeakerOut(UserRef):
    role: Literal["host", "speaker"]
    on_stage: bool


class SpaceOut(BaseModel):
    id: str
    title: str
    state: SpaceState
    host: UserRef
    speakers: list[SpeakerOut]
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    page_url: str
    hls_url: str
    replay_url: str | None
    your_role: Role

    @field_validator("created_at", "started_at", "ended_at")
    @classmethod
    def utc(cls, value: datetime | None) -> datetime | None:
        # SQLite hands back naive datetimes; every time we store is UTC.
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class SpaceList(BaseModel):
    live: list[SpaceOut]
    recent: list[SpaceOut]


class InviteOut(BaseModel):
    code: str
    invite_url: str


class StageOut(BaseModel):
    whip_url: str
    token: str


def load_space(db: OrmSession, space_id: str) -> tuple[Space, Room]:
    space = db.get(Space, space_id) if len(space_id) <= 16 else None
    if space is None:
        raise NotFound("no such Space")
    speakers = db.scalars(select(SpaceSpeaker.user_id).where(SpaceSpeaker.space_id == space_id))
    room = Room(host_id=space.host_id, state=SpaceState(space.state), speakers=frozenset(speakers))
    return space, room


def space_out(request: Request, db: OrmSession, space: Space, room: Room, viewer: User | None) -> SpaceOut:
    base = public_base(request)
    on_stage = {r.user_id for r in services(request).whip.resources.values() if r.space_id == space.id}
    ids = [room.host_id, *sorted(room.speakers)]
    users = {u.id: u for u in db.scalars(select(User).where(User.id.in_(ids)))}
    speakers = [
        SpeakerOut(
            id=uid,
            username=users[uid].username,
            role="host" if uid == room.host_id else "speaker",
            on_stage=uid in on_stage,
        )
        for uid in ids
        if uid in users
    ]
    host = users[room.host_id]
    return SpaceOut(
        id=space.id,
        title=space.title,
        state=room.state,
        host=UserRef(id=host.id, username=host.username),
        speakers=speakers,
        created_at=space.created_at,
        started_at=space.started_at,
        ended_at=space.ended_at,
        page_url=f"{base}/s/{space.id}",
        hls_url=f"{base}/hls/{space.id}/live.m3u8",
        replay_url=f"{base}/hls/{space.id}/replay.m3u8" if room.state == SpaceState.ENDED else None,
        your_role=room.role_of(viewer.id if viewer else None),
    )


Viewer = Annotated[User | None, Depends(current_user)]
SignedIn = Annotated[User, Depends(require_user)]


@router.post("", status_code=201, response_model=SpaceOut)
def create_space(body: SpaceCreate, request: Request, user: SignedIn) -> SpaceOut:
    with services(request).db.session() as db:
        space = Space(id=secrets.token_urlsafe(SPACE_ID_BYTES), title=body.title, host_id=user.id)
        db.add(space)
        db.flush()
        return space_out(request, db, space, Room(host_id=user.id), user)


@router.get("", response_model=SpaceList)
def list_spaces(request: Request, viewer: Viewer) -> SpaceList:
    with services(request).db.session() as db:
        def outs(rows: list[Space]) -> list[SpaceOut]:
            return [space_out(request, db, s, load_space(db, s.id)[1], viewer) for s in rows]

        live = db.scalars(select(Space).where(Space.state == "live").order_by(Space.started_at.desc()))
        recent = db.scalars(
            select(Space).where(Space.state == "ended").order_by(Space.ended_at.desc()).limit(RECENT_SPACES)
        )
        return SpaceList(live=outs(list(live)), recent=outs(list(recent)))


@router.get("/{space_id}", response_model=SpaceOut)
def get_space(space_id: str, request: Request, viewer: Viewer) -> SpaceOut:
    with services(request).db.session() as db:
        space, room = load_space(db, space_id)
        return space_out(request, db, space, room, viewer)


@router.post("/{space_id}/live", response_model=SpaceOut)
async def go_live(space_id: str, request: Request, user: SignedIn) -> SpaceOut:
    with services(request).db.session() as db:
        space, room = load_space(db, space_id)
        room = room.go_live(user.id)
        space.state, space.started_at = room.state, utcnow()
    await services(request).start_media(space_id)
    return get_space(space_id, request, user)


@router.post("/{space_id}/end", response_model=SpaceOut)
async def end_space(space_id: str, request: Request, user: SignedIn) -> SpaceOut:
    with services(request).db.session() as db:
        space, room = load_space(db, space_id)
        room = room.end(user.id)
        space.state, space.ended_at = room.state, utcnow()
        for token in db.scalars(select(WhipToken).where(WhipToken.space_id == space_id)):
            token.revoked = True
    await services(request).stop_media(space_id)
    return get_space(space_id, request, user)


@router.post("/{space_id}/invites", status_code=201, response_model=InviteOut)
def create_invite(space_id: str, request: Request, user: SignedIn) -> InviteOut:
    with services(request).db.session() as db:
        space, room = load_space(db, space_id)
        room.invite(user.id)
        code = secrets.token_urlsafe(16)
        db.add(Invite(code=code, space_id=space_id))
    base = public_base(request)
    return InviteOut(code=code, invite_url=f"{base}/s/{space_id}/invite/{code}")


@router.post("/{space_id}/invites/{code}/accept", response_model=SpaceOut)
def accept_invite(space_id: str, code: str, request: Request, user: SignedIn) -> SpaceOut:
    with services(request).db.session() as db:
        space, room = load_space(db, space_id)
        invite = db.get(Invite, code) if len(code) <= 64 else None
        if invite is None or invite.space_id != space_id:
            raise NotFound("no such invite for this Space")
        new_room = room.add_speaker(user.id)
        if new_room is not room and user.id not in room.speakers and user.id != room.host_id:
            db.add(SpaceSpeaker(space_id=space_id, user_id=user.id))
        db.flush()
        return space_out(request, db, space, new_room, user)


@router.post("/{space_id}/stage", response_model=StageOut)
def get_stage_credentials(space_id: str, request: Request, user: SignedIn) -> StageOut:
    """WHIP credentials for this speaker in this Space (a new token each call)."""
    with services(request).db.session() as db:
        _, room = load_space(db, space_id)
        room.check_can_publish(user.id)
        token, token_hash = new_token()
        db.add(WhipToken(token_hash=token_hash, space_id=space_id, user_id=user.id))
    base = public_base(request)
    return StageOut(whip_url=f"{base}/whip/{space_id}", token=token)
