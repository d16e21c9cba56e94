"""Events a Room decision produces: immutable, comparable, shared by API, bus and tests."""

from __future__ import annotations

from dataclasses import dataclass


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


Event = (StateChanged | RoleChanged | HandRaised | HandLowered | SpeakerInvited | GuestChanged
         | MuteChanged | Removed)
