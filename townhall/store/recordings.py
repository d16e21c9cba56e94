"""Recordings' trims, deletions and expiry notices, and clips (models Recording, Clip)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session as OrmSession

from townhall.store.models import Clip, Recording, Space


def recording(db: OrmSession, space_id: str) -> Recording | None:
    return db.get(Recording, space_id)


def recording_for_update(db: OrmSession, space_id: str) -> Recording:
    row = db.get(Recording, space_id)
    if row is None:
        row = Recording(space_id=space_id, trim_start=0.0)
        db.add(row)
    return row


def clip(db: OrmSession, clip_id: str) -> Clip | None:
    return db.get(Clip, clip_id)


def clips_of(db: OrmSession, space_id: str, limit: int) -> list[Clip]:
    return list(db.scalars(select(Clip).where(Clip.space_id == space_id)
                           .order_by(Clip.created_at.desc(), Clip.id).limit(limit)))


def delete_clips_of(db: OrmSession, space_id: str) -> None:
    db.execute(delete(Clip).where(Clip.space_id == space_id))


def retention_candidates(db: OrmSession, ended_before: datetime, notified_before: datetime,
                         limit: int) -> list[tuple[Space, Recording | None]]:
    """Ended Spaces whose replay is not deleted, that ended before `ended_before` and
    whose host was not told, or told before `notified_before` (naive UTC, as stored),
    oldest first."""
    query = (select(Space, Recording).outerjoin(Recording, Recording.space_id == Space.id)
             .where(Space.state == "ended", Space.ended_at.is_not(None),
                    Space.ended_at < ended_before, Recording.deleted_at.is_(None),
                    or_(Recording.expiry_notified_at.is_(None),
                        Recording.expiry_notified_at < notified_before))
             .order_by(Space.ended_at).limit(limit))
    return [(space, rec) for space, rec in db.execute(query)]


def replays_of(db: OrmSession, host_id: int, limit: int) -> list[tuple[Space, Recording | None]]:
    """A host's public ended Spaces, newest first, with their recording's row."""
    query = (select(Space, Recording).outerjoin(Recording, Recording.space_id == Space.id)
             .where(Space.host_id == host_id, Space.state == "ended",
                    Space.private.is_(False), Space.taken_down.is_(None),
                    Recording.deleted_at.is_(None))
             .order_by(Space.ended_at.desc()).limit(limit))
    return [(space, rec) for space, rec in db.execute(query)]
