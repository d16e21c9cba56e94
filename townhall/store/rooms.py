"""Loading and saving a Space's Room, and applying a decision in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, select
from sqlalchemy.orm import Session as OrmSession

from townhall.domain.errors import NotFound
from townhall.domain.ids import SPACE_ID
from townhall.domain import Decision, EndReason, Event, Room, SpaceState
from townhall.domain.events import Removed, RoleChanged
from townhall.store.models import Follow, HostBlock, Space, SpaceMember, WhipToken

_SETS = ("cohosts", "speakers", "invited", "guests", "muted", "removed")


def space(db: OrmSession, space_id: str) -> Space:
    """The stored Space (404 if there is none)."""
    found = db.get(Space, space_id) if SPACE_ID.fullmatch(space_id) else None
    if found is None:
        raise NotFound("no such Space")
    return found


def load(db: OrmSession, space_id: str, for_update: bool = False) -> tuple[Space, Room]:
    space = None
    if SPACE_ID.fullmatch(space_id):
        query = select(Space).where(Space.id == space_id)
        space = db.scalar(query.with_for_update() if for_update else query)
    if space is None:
        raise NotFound("no such Space")
    blocked = db.scalars(select(HostBlock.user_id).where(HostBlock.host_id == space.host_id))
    return space, _room(space, frozenset(blocked))


def load_many(db: OrmSession, space_ids: Iterable[str]) -> dict[str, Room]:
    """Several Spaces' Rooms in one query, without the hosts' blocklists (for the
    system's own lifecycle checks, which never ask who may join)."""
    spaces = db.scalars(select(Space).where(Space.id.in_(list(space_ids))))
    return {space.id: _room(space, frozenset()) for space in spaces}


def rooms_of(db: OrmSession, spaces: Iterable[Space]) -> dict[str, Room]:
    """The Rooms of Spaces already loaded, with their hosts' blocklists (one query)."""
    spaces = list(spaces)
    blocked: dict[int, set[int]] = {space.host_id: set() for space in spaces}
    if blocked:
        for host_id, user_id in db.execute(select(HostBlock.host_id, HostBlock.user_id)
                                           .where(HostBlock.host_id.in_(list(blocked)))):
            blocked[host_id].add(user_id)
    return {space.id: _room(space, frozenset(blocked[space.host_id])) for space in spaces}


def maybe_visible(viewer_id: int | None) -> ColumnElement[bool]:
    """The Spaces `viewer_id` might see, for a list's WHERE: public ones, and private
    ones where they are host or member (anonymous viewers: no private one). The Room
    still decides (`room.may("view", ...)`: removed and blocked people); this only
    keeps the other private Spaces from being read at all."""
    # A replay an operator took down leaves every list (townhall/app/moderation.py).
    if viewer_id is None:
        return and_(Space.private.is_(False), Space.taken_down.is_(None))
    return and_(Space.taken_down.is_(None), or_(
        Space.private.is_(False), Space.host_id == viewer_id,
        Space.id.in_(select(SpaceMember.space_id).where(SpaceMember.user_id == viewer_id))))


def _room(space: Space, blocked: frozenset[int]) -> Room:
    stored: dict[str, Any] = space.room or {}
    return Room(
        host_id=space.host_id,
        state=SpaceState(space.state),
        hands=tuple(stored.get("hands", ())),
        blocked=blocked,
        private=bool(space.private),
        **{name: frozenset(stored.get(name, ())) for name in _SETS},
        **{name: _moment(stored.get(name)) for name in _MOMENTS},
        **{name: _reason(stored.get(name)) for name in _REASONS},
        captions=bool(stored.get("captions", True)),
    )


# The lifecycle's part of the Room (domain/room.py), kept in the same JSON.
_MOMENTS = ("warned_at", "ends_at")
_REASONS = ("ending", "end_reason")


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _reason(value: str | None) -> EndReason | None:
    return EndReason(value) if value else None


def save(space: Space, room: Room) -> None:
    space.state = room.state
    stored: dict[str, Any] = {name: sorted(getattr(room, name)) for name in _SETS}
    stored["hands"] = list(room.hands)
    for name in _MOMENTS:
        moment = getattr(room, name)
        if moment is not None:
            stored[name] = moment.isoformat()
    for name in _REASONS:
        if getattr(room, name) is not None:
            stored[name] = str(getattr(room, name))
    if not room.captions:
        stored["captions"] = False
    space.room = stored


def decide(
    db: OrmSession, space_id: str, command: Callable[[Room], Decision]
) -> tuple[Space, Room, tuple[Event, ...]]:
    """Apply a command to the stored Room and persist what follows from it."""
    space, room = load(db, space_id, for_update=True)
    room, events = command(room)
    save(space, room)
    keep_members(db, space_id, room)
    for event in events:
        if isinstance(event, Removed) and event.blocked:
            if db.get(HostBlock, (space.host_id, event.user_id)) is None:
                db.add(HostBlock(host_id=space.host_id, user_id=event.user_id))
            # Blocked: they no longer follow the host (as on X); they cannot again.
            db.execute(delete(Follow).where(Follow.follower_id == event.user_id,
                                            Follow.followee_id == space.host_id))
        if isinstance(event, Removed) or (isinstance(event, RoleChanged) and event.role == "listener"):
            revoke_tokens(db, space_id, event.user_id)
    return space, room, events


def members(room: Room) -> set[int]:
    """Everyone a Room lists besides its host: who may see it when it is private."""
    return set(room.cohosts | room.speakers | room.invited | room.guests)


def keep_members(db: OrmSession, space_id: str, room: Room) -> None:
    """The Space's member rows, made to match the Room (only what changed is written)."""
    stored = set(db.scalars(select(SpaceMember.user_id).where(SpaceMember.space_id == space_id)))
    wanted = members(room)
    for user_id in wanted - stored:
        db.add(SpaceMember(space_id=space_id, user_id=user_id))
    if stored - wanted:
        db.execute(delete(SpaceMember).where(SpaceMember.space_id == space_id,
                                             SpaceMember.user_id.in_(stored - wanted)))


def revoke_tokens(db: OrmSession, space_id: str, user_id: int | None = None) -> None:
    query = select(WhipToken).where(WhipToken.space_id == space_id, WhipToken.revoked.is_(False))
    if user_id is not None:
        query = query.where(WhipToken.user_id == user_id)
    for token in db.scalars(query):
        token.revoked = True

