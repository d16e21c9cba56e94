"""The home page's reads: Spaces on air or coming up (by hosts you follow, or not), and
the figures Discover ranks them by (townhall/domain/discover.py). Every read is bounded
by a limit its caller names."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session as OrmSession

from townhall.domain import SpaceState
from townhall.domain.discover import FROM_FOLLOWS, FROM_REMINDERS
from townhall.store import rooms
from townhall.store.models import Follow, Reminder, Space


def fresh_upcoming(stale: datetime, viewer_id: int | None) -> ColumnElement[bool]:
    """A scheduled Space still promised as upcoming: its start (its creation, for a "now"
    Space) is after `stale` (naive UTC), or the viewer hosts it (a host keeps seeing it
    until it expires: townhall/app/lifecycle.py)."""
    fresh = func.coalesce(Space.scheduled_start, Space.created_at) >= stale.replace(tzinfo=None)
    return fresh if viewer_id is None else or_(fresh, Space.host_id == viewer_id)


def followed_hosts(viewer_id: int) -> Select:
    """The ids of the people `viewer_id` follows (a subquery)."""
    return select(Follow.followee_id).where(Follow.follower_id == viewer_id)


def live(where: ColumnElement[bool], viewer_id: int | None) -> Select:
    """Live Spaces matching `where` that the viewer might see, the latest started first."""
    return (select(Space).where(Space.state == SpaceState.LIVE.value, where,
                                rooms.maybe_visible(viewer_id))
            .order_by(Space.started_at.desc(), Space.id))


def upcoming(where: ColumnElement[bool], stale: datetime, viewer_id: int | None) -> Select:
    """Upcoming Spaces matching `where` that the viewer might see, the soonest first."""
    return (select(Space).where(Space.state == SpaceState.SCHEDULED.value, where,
                                fresh_upcoming(stale, viewer_id),
                                rooms.maybe_visible(viewer_id))
            .order_by(Space.scheduled_start.asc().nulls_last(), Space.id))


def followed_among(db: OrmSession, viewer_id: int, user_ids: Iterable[int]) -> set[int]:
    """Which of `user_ids` the viewer follows."""
    ids = list(set(user_ids))
    if not ids:
        return set()
    return set(db.scalars(select(Follow.followee_id).where(
        Follow.follower_id == viewer_id, Follow.followee_id.in_(ids))))


def followed_by_my_follows(db: OrmSession, viewer_id: int,
                           host_ids: Iterable[int]) -> dict[int, int]:
    """For each of `host_ids`: how many people the viewer follows follow them."""
    ids = list(set(host_ids))
    if not ids:
        return {}
    rows = db.execute(select(Follow.followee_id, func.count())
                      .where(Follow.followee_id.in_(ids),
                             Follow.follower_id.in_(followed_hosts(viewer_id)))
                      .group_by(Follow.followee_id))
    return {host_id: count for host_id, count in rows}


def reminder_counts(db: OrmSession, space_ids: Iterable[str]) -> dict[str, int]:
    ids = list(set(space_ids))
    if not ids:
        return {}
    rows = db.execute(select(Reminder.space_id, func.count())
                      .where(Reminder.space_id.in_(ids)).group_by(Reminder.space_id))
    return {space_id: count for space_id, count in rows}


def interests(db: OrmSession, viewer_id: int, spaces_read: int) -> dict[str, str]:
    """Topics the viewer has shown interest in (lower-cased -> where from): those of the
    latest `spaces_read` public Spaces hosted by people they follow, then those of the
    latest `spaces_read` Spaces they set reminders for. There is no "follow a topic":
    this is what the viewer's own choices say."""
    found: dict[str, str] = {}
    by_follows = (select(Space.topics).where(Space.host_id.in_(followed_hosts(viewer_id)),
                                             Space.private.is_(False),
                                             Space.state != SpaceState.CANCELLED.value)
                  .order_by(Space.created_at.desc()).limit(spaces_read))
    by_reminders = (select(Space.topics).join(Reminder, Reminder.space_id == Space.id)
                    .where(Reminder.user_id == viewer_id)
                    .order_by(Space.created_at.desc()).limit(spaces_read))
    for query, origin in ((by_follows, FROM_FOLLOWS), (by_reminders, FROM_REMINDERS)):
        for topics in db.scalars(query):
            for topic in topics or ():
                found.setdefault(topic.lower(), origin)
    return found
