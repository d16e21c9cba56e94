"""Which notifications people want where: kinds turned off per channel, email addresses,
Web Push subscriptions (townhall/app/notifier.py and its channels read these)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session as OrmSession

from townhall.store.models import NotificationOptOut, PushSubscription, User

# Kinds of notification (townhall/app/notifier.py names them) and where they go.
KINDS = ("live", "scheduled", "reminder", "invited")
APP, EMAIL, PUSH = "app", "email", "push"
CHANNELS = (APP, EMAIL, PUSH)


def wanting(db: OrmSession, user_ids: Sequence[int], kind: str, channel: str) -> list[int]:
    """Those of `user_ids` who did not turn `kind` off on `channel` (order kept)."""
    if not user_ids:
        return []
    off = set(db.scalars(select(NotificationOptOut.user_id).where(
        NotificationOptOut.kind == kind, NotificationOptOut.channel == channel,
        NotificationOptOut.user_id.in_(user_ids))))
    return [u for u in user_ids if u not in off]


def choices(db: OrmSession, user_id: int) -> dict[str, dict[str, bool]]:
    """{kind: {channel: on}} for one person."""
    off = set(db.execute(select(NotificationOptOut.kind, NotificationOptOut.channel).where(
        NotificationOptOut.user_id == user_id)).tuples())
    return {kind: {channel: (kind, channel) not in off for channel in CHANNELS}
            for kind in KINDS}


def choose(db: OrmSession, user_id: int, kind: str, channel: str, on: bool) -> bool:
    """Turn one kind on or off on one channel; False if it already was so."""
    row = db.get(NotificationOptOut, (user_id, kind, channel))
    if on == (row is None):
        return False
    if on:
        db.execute(delete(NotificationOptOut).where(
            NotificationOptOut.user_id == user_id, NotificationOptOut.kind == kind,
            NotificationOptOut.channel == channel))
    else:
        db.add(NotificationOptOut(user_id=user_id, kind=kind, channel=channel))
    return True


def email_addresses(db: OrmSession, user_ids: Sequence[int]) -> dict[int, str]:
    """{user id: address} for those of `user_ids` who gave one and proved it is theirs
    (followed the confirmation link): nobody gets mail they did not ask for."""
    if not user_ids:
        return {}
    rows = db.execute(select(User.id, User.email).where(
        User.id.in_(user_ids), User.email.is_not(None), User.email_confirmed.is_(True)))
    return {user_id: str(address) for user_id, address in rows}


def push_subscriptions(db: OrmSession, user_ids: Sequence[int]) -> list[PushSubscription]:
    if not user_ids:
        return []
    return list(db.scalars(select(PushSubscription).where(
        PushSubscription.user_id.in_(user_ids)).order_by(PushSubscription.id)))
