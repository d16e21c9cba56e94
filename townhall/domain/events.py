"""Events a Room decision produces: immutable, comparable, shared by API, bus and tests."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, get_args


@dataclass(frozen=True)
class StateChanged:
    state: str


@dataclass(frozen=True)
class RoleChanged:
    user_id: int
    role: str  # host | cohost | speaker | listener


@dataclass(frozen=True)
class HandRaised:
    user_id: int


@dataclass(frozen=True)
class HandLowered:
    user_id: int
    approved: bool = False


@dataclass(frozen=True)
class SpeakerInvited:
    user_id: int


@dataclass(frozen=True)
class GuestChanged:
    """Added to (invited) or taken off the guest list: who may listen to a private Space."""

    user_id: int
    invited: bool


@dataclass(frozen=True)
class MuteChanged:
    user_id: int
    muted: bool
    by: int


@dataclass(frozen=True)
class Removed:
    user_id: int
    blocked: bool = False


@dataclass(frozen=True)
class EndingScheduled:
    """The Space will end itself at `ends_at` (ISO times) unless `reason` goes away: the
    host and co-hosts all left the stage ("host_absent")."""

    reason: str
    warned_at: str
    ends_at: str


@dataclass(frozen=True)
class EndingCancelled:
    """The reason the Space was to end itself went away (the host or a co-host is back)."""

    reason: str


@dataclass(frozen=True)
class RecordingCut:
    """The replay stops at `at` (ISO time): what came after is not kept."""

    at: str


@dataclass(frozen=True)
class CaptionsChanged:
    """Live captions were switched on or off for the Space."""

    on: bool


Event = (StateChanged | RoleChanged | HandRaised | HandLowered | SpeakerInvited | GuestChanged
         | MuteChanged | Removed | EndingScheduled | EndingCancelled | RecordingCut
         | CaptionsChanged)

_EVENT_TYPES = {cls.__name__: cls for cls in get_args(Event)}


def event_json(event: Event) -> dict[str, Any]:
    """An event as JSON for live clients and other nodes: its fields plus its type."""
    return {"type": type(event).__name__, **dataclasses.asdict(event)}


def event_from_json(data: dict[str, Any]) -> Event:
    """The inverse of event_json (a media command from another node)."""
    fields = dict(data)
    return _EVENT_TYPES[fields.pop("type")](**fields)  # type: ignore[no-any-return]
