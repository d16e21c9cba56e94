"""Your settings: where notifications reach you and which kinds, and whether the home
page shows Discover. The server says what each choice is called and which channels this
deployment has (the page draws them; it holds no list of its own)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from townhall import limits, threads
from townhall.http.common.deps import client_key, require_user, services
from townhall.http.common.errors_doc import API_ERRORS
from townhall.store import delivery
from townhall.store.models import User

router = APIRouter(prefix="/api/me", tags=["settings"], responses=API_ERRORS)
SignedIn = Annotated[User, Depends(require_user)]

KIND_LABELS = {
    "live": "Someone you follow goes live",
    "scheduled": "Someone you follow schedules a Space",
    "reminder": "A Space you set a reminder for starts",
    "invited": "You are invited to speak",
}
CHANNEL_LABELS = {delivery.APP: "In the app", delivery.EMAIL: "Email",
                  delivery.PUSH: "Browser push"}
Kind = Literal["live", "scheduled", "reminder", "invited"]
ChannelName = Literal["app", "email", "push"]
# local@domain, no spaces or controls, a dot in the domain (or localhost): what a mail
# server can deliver to. Whether it is theirs is proven by the confirmation link.
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@(?:[^@\s.]+\.)+[^@\s.]{2,}$|^[^@\s]{1,64}@localhost$")


class Choice(BaseModel):
    id: str
    label: str


class SettingsOut(BaseModel):
    email: str | None
    email_confirmed: bool
    # Whether this deployment sends email / Web Push at all (off: the choice is moot).
    email_available: bool
    push_available: bool
    discover: bool
    # {kind: {channel: on}}
    notifications: dict[str, dict[str, bool]]
    kinds: list[Choice]
    channels: list[Choice]


class SettingsEdit(BaseModel):
    """What changes (a field left out stays as it is)."""

    model_config = ConfigDict(extra="forbid")

    # "" removes the address.
    email: str | None = Field(default=None, max_length=limits.MAX_EMAIL_LENGTH)
    discover: bool | None = None
    notifications: dict[Kind, dict[ChannelName, bool]] | None = None

    @field_validator("email")
    @classmethod
    def deliverable(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if value and not EMAIL_PATTERN.match(value):
            raise PydanticCustomError(
                "email", "this does not look like an email address (name@example.org)")
        return value


def _out(request: Request, db, user: User) -> SettingsOut:  # type: ignore[no-untyped-def]
    svc = services(request)
    names = {channel.name for channel in svc.notifier.channels}
    return SettingsOut(
        email=user.email, email_confirmed=bool(user.email_confirmed),
        email_available=delivery.EMAIL in names, push_available=delivery.PUSH in names,
        discover=user.discover, notifications=delivery.choices(db, user.id),
        kinds=[Choice(id=k, label=KIND_LABELS[k]) for k in delivery.KINDS],
        channels=[Choice(id=c, label=CHANNEL_LABELS[c]) for c in delivery.CHANNELS])


def _read(request: Request, viewer: User) -> SettingsOut:
    with services(request).db.session() as db:
        user = db.get(User, viewer.id)
        return _out(request, db, user)


def _edit(request: Request, viewer: User, body: SettingsEdit) -> tuple[SettingsOut, bool]:
    """Apply the changes; also whether the email address changed to a new one."""
    with services(request).db.session() as db:
        user = db.get(User, viewer.id)
        new_address = False
        if body.email is not None and body.email != (user.email or ""):
            user.email = body.email or None
            user.email_confirmed = False
            new_address = bool(body.email)
        if body.discover is not None:
            user.discover = body.discover
        for kind, channels in (body.notifications or {}).items():
            for channel, on in channels.items():
                delivery.choose(db, user.id, kind, channel, on)
        db.flush()
        return _out(request, db, user), new_address


@router.get("/settings", response_model=SettingsOut)
async def my_settings(request: Request, user: SignedIn) -> SettingsOut:
    """Your email address (only you see it), Discover on or off, and which kinds of
    notification reach you where."""
    return await threads.run(threads.DATABASE, _read, request, user)


@router.patch("/settings", response_model=SettingsOut)
async def edit_settings(body: SettingsEdit, request: Request, user: SignedIn) -> SettingsOut:
    """Change any of them. A new email address gets no notification until its owner
    follows the link sent to it."""
    svc = services(request)
    if body.email and body.email != (user.email or ""):
        # Each new address is mailed a link: limited per account (EMAIL_CONFIRM_BURST).
        await svc.email_confirms.hit(client_key(request, user), "confirmation emails")
    out, new_address = await threads.run(threads.DATABASE, _edit, request, user, body)
    if new_address:
        await svc.confirm_email(user.id)
    return out
