"""Profiles (name, bio, avatar), your reminders and your blocklist."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import select

from townhall import limits, threads
from townhall.app import avatars
from townhall.store import follows, profiles
from townhall.store import rooms as room_store
from townhall.http.common.deps import client_key, current_user, require_user, services, session_token
from townhall.http.common.errors_doc import API_ERRORS, error_responses
from townhall.app.presenters import UserRef, person_fields
from townhall.http.api.spaces import SpaceOut, space_out, visible
from townhall.domain.errors import NOT_ALLOWED, Forbidden, NotFound
from townhall.store.models import HostBlock, Reminder, Space, User

router = APIRouter(prefix="/api", tags=["users"], responses=API_ERRORS)
Viewer = Annotated[User | None, Depends(current_user)]
SignedIn = Annotated[User, Depends(require_user)]
Username = Annotated[str, Path(max_length=limits.MAX_USERNAME_LENGTH)]
PROFILE_SPACES = 50
# User ids are SQLite integers; a larger one in a path is refused, not sent to the database.
MAX_USER_ID = 2**31 - 1
# What the viewer may do on a profile (Profile.can): only its owner edits it; anyone
# else signed in follows or unfollows them (not someone who blocked them).
EDIT = "edit"
FOLLOW = "follow"
UNFOLLOW = "unfollow"
# Characters that never belong in a name or a bio: controls, and the bidirectional
# overrides and isolates that make text read differently from what it is ("@evil"
# shown as "@live").
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class Person(BaseModel):
    """A profile without its Spaces: what editing it answers."""

    id: int
    username: str
    # The name to show (their username until they choose one) and whether they chose it.
    display_name: str
    has_display_name: bool
    bio: str
    avatar_url: str
    avatar_small_url: str
    has_avatar: bool


class Profile(Person):
    # What the viewer may do here: ["edit"] on their own profile, ["follow"] or
    # ["unfollow"] on someone else's when signed in, else nothing.
    can: list[str]
    followers: int
    following: int
    spaces: list[SpaceOut]


def _clean(value: str, allow_newlines: bool) -> str:
    text = value.replace("\r\n", "\n").strip()
    for c in text:
        if c in BIDI_CONTROLS or (unicodedata.category(c) == "Cc" and not (
                allow_newlines and c == "\n")):
            raise PydanticCustomError("control_characters",
                                      "control characters cannot be shown")
    return text if allow_newlines else " ".join(text.split())


class ProfileEdit(BaseModel):
    """What changes (a field left out stays as it is; "" clears it)."""

    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(default=None, max_length=limits.MAX_DISPLAY_NAME_LENGTH)
    bio: str | None = Field(default=None, max_length=limits.MAX_BIO_LENGTH)

    @field_validator("display_name")
    @classmethod
    def one_line(cls, value: str | None) -> str | None:
        return None if value is None else _clean(value, allow_newlines=False)

    @field_validator("bio")
    @classmethod
    def a_few_lines(cls, value: str | None) -> str | None:
        return None if value is None else _clean(value, allow_newlines=True)


def person(user: User) -> Person:
    return Person(id=user.id, username=user.username, bio=user.bio or "",
                  has_display_name=bool(user.display_name),
                  has_avatar=user.avatar_version is not None, **person_fields(user))


def _by_name(db: Any, username: str) -> User:
    user = None
    if len(username) <= limits.MAX_USERNAME_LENGTH:
        user = db.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound("There is no user with that name.")
    return user


@router.get("/users/{username}", response_model=Profile)
def profile(username: str, request: Request, viewer: Viewer) -> Profile:
    with services(request).db.session() as db:
        user = _by_name(db, username)
        query = (select(Space).where(Space.host_id == user.id, Space.state != "cancelled")
                 .order_by(Space.created_at.desc()))
        spaces = visible(request, db, query, viewer, PROFILE_SPACES)  # private: members only
        followers, following = follows.counts(db, user.id)
        return Profile(**person(user).model_dump(), can=_may(db, user, viewer),
                       followers=followers, following=following, spaces=spaces)


def _may(db: Any, user: User, viewer: User | None) -> list[str]:
    if viewer is None:
        return []
    if viewer.id == user.id:
        return [EDIT]
    if follows.follows(db, viewer.id, user.id):
        return [UNFOLLOW]
    return [] if follows.blocked(db, user.id, viewer.id) else [FOLLOW]


def _own(db: Any, username: str, viewer: User) -> User:
    """The user called `username`, who must be the viewer (403 for anyone else's)."""
    user = _by_name(db, username)
    if user.id != viewer.id:
        raise Forbidden("You can only change your own profile.", code=NOT_ALLOWED)
    return user


def _forget_session(request: Request) -> None:
    """This node's copy of the viewer (deps.SessionCache) has their old name and face."""
    request.app.state.sessions.forget(session_token(request))


def _edit(request: Request, username: str, viewer: User, body: ProfileEdit) -> Person:
    with services(request).db.session() as db:
        user = _own(db, username, viewer)
        profiles.edit(user, body.display_name, body.bio)
        db.flush()
        return person(user)


@router.patch("/users/{username}", response_model=Person)
async def edit_profile(username: Username, body: ProfileEdit, request: Request,
                       viewer: SignedIn) -> Person:
    """Your display name and bio (only your own profile)."""
    out = await threads.run(threads.DATABASE, _edit, request, username, viewer, body)
    _forget_session(request)
    return out


IMAGE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The image file itself (PNG, JPEG, WebP or GIF; at most "
                       f"{limits.MAX_AVATAR_BYTES // (1024 * 1024)} MB), not a form.",
        "content": {kind: {"schema": {"type": "string", "format": "binary"}}
                    for kind in ("image/png", "image/jpeg", "image/webp", "image/gif",
                                 "application/octet-stream")},
    }
}


# The framework's own body limit for uploads, only a backstop: _read_upload refuses
# anything over MAX_AVATAR_BYTES first, in words, reading no more than that. (Were the
# framework's limit the same, it would replace that answer with a bare "Content Too
# Large" for any request declaring a larger Content-Length.)
UPLOAD_BACKSTOP_BYTES = 1024 * limits.MAX_AVATAR_BYTES


async def _read_upload(request: Request) -> bytes:
    """The request body, refused with a sentence as soon as it is too large."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.MAX_AVATAR_BYTES:
        raise avatars.too_large(int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limits.MAX_AVATAR_BYTES:
            raise avatars.too_large(size)
        chunks.append(chunk)
    return b"".join(chunks)


def _check_own(request: Request, username: str, viewer: User) -> None:
    with services(request).db.session() as db:
        _own(db, username, viewer)


def _save_avatar(request: Request, username: str, viewer: User,
                 avatar: avatars.Processed | None) -> Person:
    with services(request).db.session() as db:
        user = _own(db, username, viewer)
        if avatar is None:
            profiles.delete_avatar(db, user)
        else:
            profiles.save_avatar(db, user, avatar.version, avatar.large, avatar.small)
        db.flush()
        return person(user)


@router.put("/users/{username}/avatar", response_model=Person,
            max_body_size=UPLOAD_BACKSTOP_BYTES, openapi_extra=IMAGE_BODY,
            responses=error_responses(413, text=(413,)))
async def upload_avatar(username: Username, request: Request, viewer: SignedIn) -> Person:
    """Your avatar: the body is the image file. It is decoded (so anything that is not
    a readable image is refused with a sentence saying why), cropped to a square and
    stored at AVATAR_SIZE and AVATAR_SMALL_SIZE px."""
    svc = services(request)
    # Whose profile, and how often, before a byte of the file is read.
    await threads.run(threads.DATABASE, _check_own, request, username, viewer)
    await svc.avatar_uploads.hit(client_key(request, viewer), "avatar uploads")
    async with svc.upload_slots:  # at most this many files in memory at once
        data = await _read_upload(request)
        processed = await threads.run(threads.IMAGES, avatars.process, data)
    out = await threads.run(threads.DATABASE, _save_avatar, request, username, viewer,
                            processed)
    _forget_session(request)
    return out


@router.delete("/users/{username}/avatar", response_model=Person)
async def delete_avatar(username: Username, request: Request, viewer: SignedIn) -> Person:
    """Back to the placeholder (your initials)."""
    out = await threads.run(threads.DATABASE, _save_avatar, request, username, viewer, None)
    _forget_session(request)
    return out


@router.get("/me/reminders", response_model=list[SpaceOut])
def my_reminders(request: Request, user: SignedIn) -> list[SpaceOut]:
    """Spaces you asked to be reminded of that are upcoming or live now."""
    with services(request).db.session() as db:
        rows = db.scalars(
            select(Space).join(Reminder, Reminder.space_id == Space.id)
            .where(Reminder.user_id == user.id, Space.state.in_(("scheduled", "live")))
            .order_by(Space.scheduled_start.asc().nulls_last())
        )
        outs = ((s, room_store.load(db, s.id)[1]) for s in rows)
        # Taken off a private Space's guest list: its reminder no longer shows.
        return [space_out(request, db, s, room, user) for s, room in outs if room.may("view", user.id)]


@router.get("/me/blocks", response_model=list[UserRef])
def my_blocks(request: Request, user: SignedIn) -> list[UserRef]:
    with services(request).db.session() as db:
        rows = db.scalars(
            select(User).join(HostBlock, HostBlock.user_id == User.id)
            .where(HostBlock.host_id == user.id)
        )
        return [UserRef.of(blocked) for blocked in rows]


@router.delete("/me/blocks/{user_id}", status_code=204, response_class=Response)
def unblock(user_id: Annotated[int, Path(ge=1, le=MAX_USER_ID)], request: Request,
            user: SignedIn) -> Response:
    with services(request).db.session() as db:
        block = db.get(HostBlock, (user.id, user_id))
        if block is None:
            raise NotFound("that user is not blocked")
        db.delete(block)
    return Response(status_code=204)
