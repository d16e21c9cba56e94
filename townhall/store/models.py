from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (JSON, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, false,
                        func, true)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from townhall import limits


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(limits.MAX_USERNAME_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What people see beside the @username ("" until they set one), and a line about them.
    display_name: Mapped[str] = mapped_column(String(limits.MAX_DISPLAY_NAME_LENGTH), default="")
    bio: Mapped[str] = mapped_column(String(limits.MAX_BIO_LENGTH), default="")
    # The uploaded avatar's version (None: the initials placeholder): it names the image
    # in its URL, so a URL never changes meaning and is cached for good.
    avatar_version: Mapped[str | None] = mapped_column(String(32), default=None)
    # Where notification emails go (None: no email); never shown to anyone else.
    email: Mapped[str | None] = mapped_column(String(limits.MAX_EMAIL_LENGTH), default=None)
    # Whether its owner proved it is theirs (a link sent to it): only then is mail sent,
    # so nobody can sign someone else up for notifications.
    email_confirmed: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Whether the home page shows "Discover" (Spaces from people they do not follow).
    discover: Mapped[bool] = mapped_column(default=True, server_default=true())
    # Runs the service's moderation (`townhall operator add NAME`): the console at /operator.
    operator: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Suspended by an operator: the log entry that did it (None: in good standing) and
    # until when (None with an entry: until an operator lifts it). domain/moderation.py.
    suspension: Mapped[int | None] = mapped_column(default=None)
    suspended_until: Mapped[datetime | None] = mapped_column(default=None)


# One account per name whatever its case: "Host1" and "HOST1" look alike to people.
Index("ix_users_username_folded", func.lower(User.username), unique=True)


class Avatar(Base):
    """An uploaded avatar, decoded and resized (townhall/app/avatars.py): kept in the
    database so every origin of a cluster serves it; a few KB each. Its own table, so
    loading users never loads images."""

    __tablename__ = "avatars"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    version: Mapped[str] = mapped_column(String(32))
    large: Mapped[bytes] = mapped_column(LargeBinary)  # AVATAR_SIZE square, WebP
    small: Mapped[bytes] = mapped_column(LargeBinary)  # AVATAR_SMALL_SIZE square, WebP
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Session(Base):
    __tablename__ = "sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Space(Base):
    __tablename__ = "spaces"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    title: Mapped[str] = mapped_column(String(limits.MAX_TITLE_LENGTH))
    description: Mapped[str] = mapped_column(String(limits.MAX_DESCRIPTION_LENGTH), default="")
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    host_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="scheduled", index=True)
    # Roles, hands, mutes and removals: the rooms.Room value, as JSON (see api/rooms.py).
    room: Mapped[dict[str, list[int]]] = mapped_column(JSON, default=dict)
    # Invite-only listening (api/private.py): set at creation or while scheduled.
    private: Mapped[bool] = mapped_column(default=False)
    pinned_url: Mapped[str | None] = mapped_column(String(limits.MAX_URL_LENGTH), default=None)
    # Audience figures of a finished Space (audience.AudienceCounter.summary).
    audience: Mapped[dict[str, object] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    scheduled_start: Mapped[datetime | None] = mapped_column(default=None, index=True)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    # An operator took its replay down: the log entry that did it (None: it is up).
    taken_down: Mapped[int | None] = mapped_column(default=None)


class SpaceMember(Base):
    """Who belongs to a Space besides its host (co-hosts, speakers, the invited, guests),
    kept with every decision (townhall/store/rooms.py): lists find the private Spaces a
    person may see without reading every private Space's Room (800 hidden ones made a
    signed-in list 15 times slower)."""

    __tablename__ = "space_members"
    space_id: Mapped[str] = mapped_column(ForeignKey("spaces.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)


class HostBlock(Base):
    """A host's blocklist: these users cannot join any of the host's Spaces."""

    __tablename__ = "host_blocks"
    host_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Follow(Base):
    """Someone follows someone: they hear when that person goes live or schedules."""

    __tablename__ = "follows"
    follower_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    followee_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# A host's followers in id order: the fan-out (townhall/store/follows.py) reads them a
# batch at a time from this index, never sorting all of them.
Index("ix_follows_followee_id", Follow.followee_id, Follow.follower_id)


class Notification(Base):
    """An in-app notification (townhall/app/notifier.py): kind is one of "live",
    "scheduled", "reminder", "invited"; read_at is None until the person reads it."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(16))
    space_id: Mapped[str | None] = mapped_column(ForeignKey("spaces.id"), default=None)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(default=None)


# A person's notifications, newest first, and their unread count.
Index("ix_notifications_user_id_id", Notification.user_id, Notification.id)


class Reminder(Base):
    __tablename__ = "reminders"
    space_id: Mapped[str] = mapped_column(ForeignKey("spaces.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)


class NotificationOptOut(Base):
    """A kind of notification a person turned off on one channel ("app", "email",
    "push"): every kind is on until they turn it off (townhall/store/delivery.py)."""

    __tablename__ = "notification_optouts"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)


class PushSubscription(Base):
    """A browser's Web Push subscription (the push service's endpoint and the keys the
    payload is encrypted to): townhall/app/webpush.py sends to it."""

    __tablename__ = "push_subscriptions"
    __table_args__ = (UniqueConstraint("endpoint", name="uq_push_subscriptions_endpoint"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    endpoint: Mapped[str] = mapped_column(String(limits.MAX_PUSH_ENDPOINT_LENGTH))
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invite(Base):
    __tablename__ = "invites"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    space_id: Mapped[str] = mapped_column(ForeignKey("spaces.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WhipToken(Base):
    """A bearer token scoped to one Space and one speaker."""

    __tablename__ = "whip_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    space_id: Mapped[str] = mapped_column(ForeignKey("spaces.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    revoked: Mapped[bool] = mapped_column(default=False)


class LogEntry(Base):
    """One entry of the public transparency log (townhall/app/moderation.py): only public
    fields, chained by hash (domain/moderation.py). `seq` is given by the writer (the head's
    plus one, in the same transaction): two writers at once cannot both take a number."""

    __tablename__ = "transparency_log"
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(20))  # ISO 8601 UTC, whole seconds, "Z"
    action: Mapped[str] = mapped_column(String(32))
    target_type: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(64))  # a Space id or a username
    reason: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16))
    answers: Mapped[int | None] = mapped_column(default=None)  # the entry this one answers
    until: Mapped[str | None] = mapped_column(String(20), default=None)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class ActionNote(Base):
    """What stays private about a logged action: who acted, on whom exactly, from which
    report, and their note. Never served outside the operator console."""

    __tablename__ = "moderation_notes"
    seq: Mapped[int] = mapped_column(ForeignKey("transparency_log.seq"), primary_key=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None, index=True)
    space_id: Mapped[str | None] = mapped_column(ForeignKey("spaces.id"), default=None)
    note: Mapped[str] = mapped_column(String(limits.MAX_MODERATION_NOTE_LENGTH), default="")


class Report(Base):
    """Someone reported a Space, a replay or a person; operators work the open ones."""

    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    target_type: Mapped[str] = mapped_column(String(16))
    space_id: Mapped[str | None] = mapped_column(ForeignKey("spaces.id"), default=None)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(limits.MAX_REPORT_NOTE_LENGTH), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    entry: Mapped[int | None] = mapped_column(default=None)  # the action it led to


class Appeal(Base):
    """An appeal of one logged action (once per action: `entry` is unique)."""

    __tablename__ = "appeals"
    id: Mapped[int] = mapped_column(primary_key=True)
    entry: Mapped[int] = mapped_column(ForeignKey("transparency_log.seq"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    text: Mapped[str] = mapped_column(String(limits.MAX_APPEAL_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    answer: Mapped[int | None] = mapped_column(default=None)  # the log entry answering it
    reply: Mapped[str] = mapped_column(String(limits.MAX_MODERATION_NOTE_LENGTH), default="")
    answered_at: Mapped[datetime | None] = mapped_column(default=None)


class Recording(Base):
    """What the host decided about a Space's recording (townhall/app/recordings.py): a
    trim (seconds on the recording's timeline; non-destructive), its deletion (by the
    host, or retention), and when the host was told it expires. No row: untouched."""

    __tablename__ = "recordings"
    space_id: Mapped[str] = mapped_column(ForeignKey("spaces.id"), primary_key=True)
    trim_start: Mapped[float] = mapped_column(default=0.0)
    trim_end: Mapped[float | None] = mapped_column(default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    deleted_by: Mapped[str | None] = mapped_column(String(16), default=None)  # host, retention
    expiry_notified_at: Mapped[datetime | None] = mapped_column(default=None)


class Clip(Base):
    """Up to a minute of a Space's recording with a page of its own (/c/{id})."""

    __tablename__ = "clips"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    space_id: Mapped[str] = mapped_column(ForeignKey("spaces.id"), index=True)
    maker_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    start: Mapped[float] = mapped_column()
    end: Mapped[float] = mapped_column()
    title: Mapped[str] = mapped_column(String(limits.MAX_CLIP_TITLE_LENGTH), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Transcript(Base):
    """A Space's final transcript as plain words, for search (townhall/store/search.py,
    migration 0011: its own full-text index, kept by triggers). Written after the final
    pass; removed with the recording."""

    __tablename__ = "transcripts"
    space_id: Mapped[str] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"),
                                          primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
