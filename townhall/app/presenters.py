"""A Space as a viewer sees it: the JSON the API answers and live events carry.

`present` builds it from the stored Space and its Room for one viewer; `neutral` is the
same for nobody in particular (what a live event carries between nodes), and
`personalise` turns a neutral one into one viewer's (what this viewer may do, from the
Room itself: townhall/domain/affordances.py), so the page keeps no copy of a rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session as OrmSession

from townhall.app import avatars
from townhall.domain import Role, Room, SpaceState
from townhall.domain.affordances import person_actions, space_actions
from townhall.domain.permissions import Actor
from townhall.store.models import Recording, Reminder, Space, User


def as_utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every time we store is UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class UserRef(BaseModel):
    id: int
    username: str
    # The name to show: theirs, or their username until they choose one.
    display_name: str
    # Their face: the uploaded avatar (AVATAR_SIZE and AVATAR_SMALL_SIZE px, WebP) or a
    # placeholder with their initials (SVG); paths on this server, immutable.
    avatar_url: str
    avatar_small_url: str
    # What the viewer may do to this person now (affordances.person_actions).
    can: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, user: User, can: list[str] | None = None) -> UserRef:
        return cls(id=user.id, username=user.username, can=can or [], **person_fields(user))


def person_fields(user: User) -> dict[str, str]:
    """How a person appears wherever the API lists them: name and face."""
    large, small = avatars.urls(user.id, user.avatar_version, user.display_name or "",
                                user.username)
    return {"display_name": user.display_name or user.username, "avatar_url": large,
            "avatar_small_url": small}


class SpeakerOut(UserRef):
    role: Literal["host", "cohost", "speaker"]
    on_stage: bool
    muted: bool


class YouOut(BaseModel):
    """The viewer: who they are here and what they may do to the Space now."""

    id: int | None
    role: Literal["host", "cohost", "speaker", "listener", "anonymous"]
    can: list[str]


class EndingOut(BaseModel):
    """A live Space about to end itself (townhall/app/lifecycle.py): why, since when
    everyone was told, and when it ends unless the reason goes away."""

    reason: Literal["host_absent"]
    warned_at: datetime
    ends_at: datetime


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
    you: YouOut
    your_role: Role
    your_id: int | None
    reminded: bool
    # Why recording is paused (e.g. the disk is full), or null; listening is unaffected.
    recording_error: str | None
    # Set while a live Space is about to end itself (the host left the stage), else null.
    ending: EndingOut | None = None
    # Why the system ended or cancelled the Space ("host_absent", "never_started"), or
    # null when its host did (or it is not over).
    end_reason: Literal["host_absent", "never_started", "operator"] | None = None

    @field_validator("created_at", "scheduled_start", "started_at", "ended_at")
    @classmethod
    def utc(cls, value: datetime | None) -> datetime | None:
        return as_utc(value)


class ListenersOut(BaseModel):
    """Who is listening now (players' beacons within the concurrent window): signed-in
    listeners by face, the latest first, at most limits.MAX_LISTED_LISTENERS of them
    (speakers are in `speakers`, and nobody removed, blocked or not allowed to listen is
    named); anonymous players counted; `total` is every player (the `listeners` figure)."""

    people: list[UserRef]
    anonymous: int
    total: int


def present_listeners(db: OrmSession, room: Room, viewer: int | None, ids: list[int],
                      anonymous: int, total: int) -> ListenersOut:
    """The roster for `viewer`: each person with what the viewer may do to them."""
    users = {u.id: u for u in db.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    people = [UserRef.of(users[uid], can=person_actions(room, viewer, uid))
              for uid in ids if uid in users and room.may("listen", uid)]
    return ListenersOut(people=people, anonymous=anonymous,
                        total=max(total, len(people) + anonymous))


@dataclass(frozen=True)
class LiveFacts:
    """What only the running media knows, read on the event loop before presenting."""

    on_stage: frozenset[int] = frozenset()
    listeners: int = 0
    recording_error: str | None = None


_PEOPLE = ("speakers", "hands", "invited", "guests")


def has_replay(db: OrmSession, space_id: str, room: Room) -> bool:
    """Ended, and its recording not deleted (by the host, or retention)."""
    if room.state != SpaceState.ENDED:
        return False
    recording = db.get(Recording, space_id)
    return recording is None or recording.deleted_at is None


def you(room: Room, viewer: int | None) -> YouOut:
    actor = room.actor(viewer)
    role = "anonymous" if actor == Actor.ANONYMOUS else room.role_of(viewer).value
    return YouOut(id=viewer, role=role, can=space_actions(room, viewer))  # type: ignore[arg-type]


def present(db: OrmSession, space: Space, room: Room, viewer: int | None, base: str,
            live: LiveFacts) -> SpaceOut:
    speaker_ids = [room.host_id, *sorted(room.cohosts), *sorted(room.speakers)]
    ids = {*speaker_ids, *room.hands, *room.invited, *room.guests}
    users = {u.id: u for u in db.scalars(select(User).where(User.id.in_(ids)))}

    def ref(uid: int) -> UserRef:
        return UserRef.of(users[uid], can=person_actions(room, viewer, uid))

    speakers = [
        SpeakerOut(**ref(uid).model_dump(), role=room.role_of(uid).value,  # type: ignore[arg-type]
                   on_stage=uid in live.on_stage, muted=uid in room.muted)
        for uid in speaker_ids
        if uid in users
    ]
    refs = lambda group: [ref(u) for u in group if u in users]  # noqa: E731
    return SpaceOut(
        id=space.id,
        title=space.title,
        description=space.description or "",
        topics=list(space.topics or []),
        state=room.state,
        host=UserRef.of(users[room.host_id]),
        speakers=speakers,
        hands=refs(room.hands),
        invited=refs(sorted(room.invited)),
        private=room.private,
        guests=refs(sorted(room.guests)),
        pinned_url=space.pinned_url,
        listeners=live.listeners,
        created_at=space.created_at,
        scheduled_start=space.scheduled_start,
        started_at=space.started_at,
        ended_at=space.ended_at,
        page_url=f"{base}/s/{space.id}",
        hls_url=f"{base}/hls/{space.id}/live.m3u8",
        replay_url=(f"{base}/hls/{space.id}/replay.m3u8" if has_replay(db, space.id, room)
                    else None),
        you=you(room, viewer),
        your_role=room.role_of(viewer),
        your_id=viewer,
        reminded=reminded(db, space.id, viewer),
        recording_error=live.recording_error,
        ending=ending_of(room),
        end_reason=room.end_reason.value if room.end_reason else None,
    )


def ending_of(room: Room) -> EndingOut | None:
    if room.ending is None or room.warned_at is None or room.ends_at is None:
        return None
    return EndingOut(reason=room.ending.value, warned_at=room.warned_at,  # type: ignore[arg-type]
                     ends_at=room.ends_at)


def reminded(db: OrmSession, space_id: str, viewer: int | None) -> bool:
    return viewer is not None and db.get(Reminder, (space_id, viewer)) is not None


def personalise(neutral: dict[str, Any], room: Room, viewer: int | None) -> dict[str, Any]:
    """A neutral Space (JSON, as presented for nobody) as `viewer` sees it."""
    space = dict(neutral)
    space["you"] = you(room, viewer).model_dump()
    space["your_role"] = room.role_of(viewer).value
    space["your_id"] = viewer
    for group in _PEOPLE:
        space[group] = [{**person, "can": person_actions(room, viewer, person["id"])}
                        for person in neutral.get(group, ())]
    return space
