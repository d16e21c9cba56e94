"""Profiles: a user's display name and bio, and their stored avatar."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session as OrmSession

from townhall.store.models import Avatar, User, utcnow


@dataclass(frozen=True)
class StoredAvatar:
    """What serving one avatar image needs, in one query."""

    user_id: int
    username: str
    display_name: str
    version: str | None  # None: no upload (the placeholder)
    image: bytes | None  # the requested size, when `version` is set


def edit(user: User, display_name: str | None, bio: str | None) -> None:
    if display_name is not None:
        user.display_name = display_name
    if bio is not None:
        user.bio = bio


def save_avatar(db: OrmSession, user: User, version: str, large: bytes, small: bytes) -> None:
    """The user's avatar is now this one (the old one is replaced, not kept)."""
    avatar = db.get(Avatar, user.id)
    if avatar is None:
        db.add(Avatar(user_id=user.id, version=version, large=large, small=small))
    else:
        avatar.version, avatar.large, avatar.small = version, large, small
        avatar.updated_at = utcnow()
    user.avatar_version = version


def delete_avatar(db: OrmSession, user: User) -> None:
    avatar = db.get(Avatar, user.id)
    if avatar is not None:
        db.delete(avatar)
    user.avatar_version = None


def load_avatar(db: OrmSession, user_id: int, small: bool) -> StoredAvatar | None:
    """The user and their avatar image of one size (None: no such user)."""
    image = Avatar.small if small else Avatar.large
    row = db.execute(
        select(User.id, User.username, User.display_name, Avatar.version, image)
        .outerjoin(Avatar, Avatar.user_id == User.id)
        .where(User.id == user_id)
    ).first()
    if row is None:
        return None
    return StoredAvatar(row[0], row[1], row[2], row[3], row[4])
