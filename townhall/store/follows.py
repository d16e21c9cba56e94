"""Follows and in-app notifications: the queries (townhall/app/notifier.py fans out)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.orm import Session as OrmSession

from townhall.store.models import Follow, HostBlock, Notification, Reminder, User, utcnow


def follows(db: OrmSession, follower_id: int, followee_id: int) -> bool:
    return db.get(Follow, (follower_id, followee_id)) is not None


def blocked(db: OrmSession, host_id: int, user_id: int) -> bool:
    return db.get(HostBlock, (host_id, user_id)) is not None


def counts(db: OrmSession, user_id: int) -> tuple[int, int]:
    """(followers, following) of a user."""
    followers = db.scalar(select(func.count()).select_from(Follow)
                          .where(Follow.followee_id == user_id)) or 0
    following = db.scalar(select(func.count()).select_from(Follow)
                          .where(Follow.follower_id == user_id)) or 0
    return followers, following


def people(db: OrmSession, user_id: int, followers: bool, after: int,
           limit: int) -> list[User]:
    """A page of a user's followers (or the people they follow), by user id after `after`."""
    mine, theirs = ((Follow.followee_id, Follow.follower_id) if followers
                    else (Follow.follower_id, Follow.followee_id))
    return list(db.scalars(select(User).join(Follow, theirs == User.id)
                           .where(mine == user_id, User.id > after)
                           .order_by(User.id).limit(limit)))


def fan_out_batch(db: OrmSession, space_id: str, actor_id: int, after: int, batch: int,
                  skip_reminded: bool) -> tuple[int, list[int]] | None:
    """One batch of `actor_id`'s followers with ids after `after` who hear about
    `space_id` (never people the host blocked, nor, with `skip_reminded`, those who get
    a reminder for this Space instead). Returns the last follower id the batch covered
    and those who hear it, None when there were none left."""
    query = (select(Follow.follower_id).where(Follow.followee_id == actor_id,
                                              Follow.follower_id > after)
             .order_by(Follow.follower_id).limit(batch))
    ids = list(db.scalars(query))
    if not ids:
        return None
    excluded = set(db.scalars(select(HostBlock.user_id).where(
        HostBlock.host_id == actor_id, HostBlock.user_id.in_(ids))))
    if skip_reminded:
        excluded |= set(db.scalars(select(Reminder.user_id).where(
            Reminder.space_id == space_id, Reminder.user_id.in_(ids))))
    return ids[-1], [uid for uid in ids if uid not in excluded]


def already_notified(db: OrmSession, user_ids: Sequence[int], kind: str, space_id: str,
                     actor_id: int) -> set[int]:
    """Those of `user_ids` who already have this notification (a fan-out taken over from
    a worker that died after writing a batch it had not recorded)."""
    if not user_ids:
        return set()
    return set(db.scalars(select(Notification.user_id).where(
        Notification.user_id.in_(user_ids), Notification.kind == kind,
        Notification.space_id == space_id, Notification.actor_id == actor_id)))


def reminded(db: OrmSession, space_id: str) -> list[int]:
    return list(db.scalars(select(Reminder.user_id).where(Reminder.space_id == space_id)))


def add(db: OrmSession, user_ids: Sequence[int], kind: str, space_id: str | None,
        actor_id: int | None) -> None:
    now = utcnow()
    if user_ids:
        db.execute(insert(Notification), [
            {"user_id": uid, "kind": kind, "space_id": space_id, "actor_id": actor_id,
             "created_at": now} for uid in user_ids])


def unread(db: OrmSession, user_id: int) -> int:
    return db.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def page(db: OrmSession, user_id: int, before: int | None, limit: int) -> list[Notification]:
    """The newest `limit` notifications of a user, older than id `before` if given."""
    query = select(Notification).where(Notification.user_id == user_id)
    if before is not None:
        query = query.where(Notification.id < before)
    return list(db.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def mark_read(db: OrmSession, user_id: int, up_to: int | None) -> None:
    where = and_(Notification.user_id == user_id, Notification.read_at.is_(None))
    if up_to is not None:
        where = and_(where, Notification.id <= up_to)
    db.execute(update(Notification).where(where).values(read_at=utcnow()))

