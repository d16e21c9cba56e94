"""One Space's lifecycle and who may speak in it.

scheduled -> live -> ended. The host goes live and ends; the host invites speakers;
at most MAX_SPEAKERS people (host included) may be on the speaker list.
Methods return the new Room (immutable) or raise a typed error; callers persist it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from townhall import limits
from townhall.errors import Conflict, Forbidden


class SpaceState(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"


class Role(StrEnum):
    HOST = "host"
    SPEAKER = "speaker"
    LISTENER = "listener"


class IllegalTransition(Conflict):
    """The Space is not in a state where this can happen."""


class NotAllowed(Forbidden):
    """This person's role does not allow it."""


_NEXT = {
    SpaceState.SCHEDULED: {SpaceState.LIVE, SpaceState.ENDED},
    SpaceState.LIVE: {SpaceState.ENDED},
    SpaceState.ENDED: set(),
}


@dataclass(frozen=True)
class Room:
    host_id: int
    state: SpaceState = SpaceState.SCHEDULED
    speakers: frozenset[int] = frozenset()  # invited speakers, host excluded

    def role_of(self, user_id: int | None) -> Role:
        if user_id == self.host_id:
            return Role.HOST
        if user_id in self.speakers:
            return Role.SPEAKER
        return Role.LISTENER

    def _to(self, state: SpaceState) -> Room:
        if state not in _NEXT[self.state]:
            raise IllegalTransition(f"a {self.state} Space cannot become {state}")
        return replace(self, state=state)

    def _require_host(self, actor: int | None, action: str) -> None:
        if actor != self.host_id:
            raise NotAllowed(f"only the host can {action}")

    def go_live(self, actor: int | None) -> Room:
        self._require_host(actor, "start the Space")
        return self._to(SpaceState.LIVE)

    def end(self, actor: int | None) -> Room:
        self._require_host(actor, "end the Space")
        return self._to(SpaceState.ENDED)

    def invite(self, actor: int | None) -> None:
        """Check that actor may invite speakers now (invites themselves are codes)."""
        self._require_host(actor, "invite speakers")
        if self.state == SpaceState.ENDED:
            raise IllegalTransition("the Space has ended")

    def add_speaker(self, user_id: int) -> Room:
        if self.state == SpaceState.ENDED:
            raise IllegalTransition("the Space has ended")
        if user_id == self.host_id or user_id in self.speakers:
            return self
        if len(self.speakers) + 1 >= limits.MAX_SPEAKERS:
            raise IllegalTransition(f"a Space has at most {limits.MAX_SPEAKERS} speakers")
        return replace(self, speakers=self.speakers | {user_id})

    def check_can_publish(self, user_id: int | None) -> None:
        if self.role_of(user_id) == Role.LISTENER:
            raise NotAllowed("only the host and invited speakers can speak")
        if self.state != SpaceState.LIVE:
            raise IllegalTransition(f"the Space is {self.state}, not live")
