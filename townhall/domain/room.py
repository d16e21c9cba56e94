"""One Space's lifecycle, roles and moderation. Decisions only: no I/O.

scheduled -> live -> ended, scheduled -> cancelled. Every command takes the acting user
first (the system's own lifecycle commands, at the end of the lifecycle section, take
the moment instead: the app's timers decide when to ask) and returns (new Room, events) or raises a typed error; callers persist the Room
and act on the events (close a peer connection, mute in the mixer, notify clients).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from townhall import limits
from townhall.domain import errors
from townhall.domain.errors import Conflict, Forbidden, Unauthorized
from townhall.domain.permissions import PERMISSIONS, Actor, denial_reason
from townhall.domain.events import (
    CaptionsChanged,
    EndingCancelled,
    EndingScheduled,
    Event,
    GuestChanged,
    HandLowered,
    HandRaised,
    MuteChanged,
    RecordingCut,
    Removed,
    RoleChanged,
    SpeakerInvited,
    StateChanged,
)


class SpaceState(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


class Role(StrEnum):
    HOST = "host"
    COHOST = "cohost"
    SPEAKER = "speaker"
    LISTENER = "listener"


class EndReason(StrEnum):
    """Why the system, not the host, ends or cancels a Space."""

    HOST_ABSENT = "host_absent"  # live, but the host and co-hosts all left the stage
    NEVER_STARTED = "never_started"  # its start time long past, it never went live
    OPERATOR = "operator"  # an operator ended it (on the transparency log: /transparency)


class IllegalTransition(Conflict):
    """The Space is not in a state where this can happen, or it already happened."""

    code = errors.ILLEGAL_TRANSITION


class NotAllowed(Forbidden):
    """This person's role does not allow it."""

    code = errors.NOT_ALLOWED


_NEXT = {
    SpaceState.SCHEDULED: {SpaceState.LIVE, SpaceState.ENDED, SpaceState.CANCELLED},
    SpaceState.LIVE: {SpaceState.ENDED},
    SpaceState.ENDED: set(),
    SpaceState.CANCELLED: set(),
}
FINAL = {SpaceState.ENDED, SpaceState.CANCELLED}
Decision = tuple["Room", tuple[Event, ...]]


@dataclass(frozen=True)
class Room:
    """Every command asks the permission table first (401/403), then the state (409)."""

    host_id: int
    state: SpaceState = SpaceState.SCHEDULED
    cohosts: frozenset[int] = frozenset()
    speakers: frozenset[int] = frozenset()  # on the speaker list, not host or co-host
    invited: frozenset[int] = frozenset()
    hands: tuple[int, ...] = ()  # raised hands, oldest first
    muted: frozenset[int] = frozenset()
    removed: frozenset[int] = frozenset()
    blocked: frozenset[int] = frozenset()  # the host's blocklist, loaded by the caller
    # A private Space is for its members only (permissions.allowed); guests are the
    # people a moderator invited to listen (the guest list matters only when private).
    private: bool = False
    guests: frozenset[int] = frozenset()
    # A live Space about to end itself: why, since when everyone was told, and when it
    # ends (all None while it is not). `warned_at` stays once it has ended itself: the
    # replay stops there.
    ending: EndReason | None = None
    warned_at: datetime | None = None
    ends_at: datetime | None = None
    # Why the system ended or cancelled it; None if the host did (or it is not over).
    end_reason: EndReason | None = None
    # Live captions (and the transcript after): on unless the host or a co-host turned
    # them off (the node may still have no room for them: townhall/app/captions.py).
    captions: bool = True

    # -- reading -------------------------------------------------------------
    def role_of(self, user_id: int | None) -> Role:
        if user_id is None:
            return Role.LISTENER
        if user_id == self.host_id:
            return Role.HOST
        if user_id in self.cohosts:
            return Role.COHOST
        if user_id in self.speakers:
            return Role.SPEAKER
        return Role.LISTENER

    @property
    def moderators(self) -> frozenset[int]:
        return self.cohosts | {self.host_id}

    def hosted(self, on_stage: Iterable[int]) -> bool:
        """Is someone in charge (the host or a co-host) among those on stage?"""
        return not self.moderators.isdisjoint(on_stage)

    @property
    def on_speaker_list(self) -> frozenset[int]:
        return self.cohosts | self.speakers | {self.host_id}

    def is_moderator(self, user_id: int | None) -> bool:
        return user_id is not None and (user_id == self.host_id or user_id in self.cohosts)

    def check_can_join(self, user_id: int | None) -> None:
        if user_id is not None and user_id in self.removed:
            raise NotAllowed("you were removed from this Space")
        if user_id is not None and user_id in self.blocked:
            raise NotAllowed("the host has blocked you")

    def check_can_publish(self, user_id: int | None) -> None:
        self.check_can_join(user_id)
        self.authorize("publish", user_id)
        if self.state != SpaceState.LIVE:
            raise IllegalTransition(f"the Space is {self.state}, not live")

    # -- lifecycle -----------------------------------------------------------
    def _to(self, state: SpaceState) -> Room:
        if state not in _NEXT[self.state]:
            raise IllegalTransition(f"a {self.state} Space cannot become {state}")
        return replace(self, state=state)

    def actor(self, user_id: int | None) -> Actor:
        if user_id is None:
            return Actor.ANONYMOUS
        if user_id in self.removed or user_id in self.blocked:
            return Actor.REMOVED
        role = self.role_of(user_id)
        if role == Role.LISTENER and (user_id in self.guests or user_id in self.invited):
            return Actor.GUEST
        return Actor(role.value)

    def may(self, action: str, user_id: int | None) -> bool:
        return denial_reason(action, self.actor(user_id), self.private) is None

    def authorize(self, action: str, user_id: int | None) -> None:
        """Raise unless the permission table lets this user do `action` here."""
        actor = self.actor(user_id)
        reason = denial_reason(action, actor, self.private)
        if reason is None:
            return
        if user_id is None:
            raise Unauthorized(reason)
        raise NotAllowed(*self._denial(action, actor, user_id, reason))

    def _denial(self, action: str, actor: Actor, user_id: int, reason: str) -> tuple[str, str]:
        """The message and code for a refusal: why, as a sentence and as a code."""
        if user_id in self.blocked:
            return "the host has blocked you", errors.BLOCKED
        if actor == Actor.REMOVED:
            return reason, errors.REMOVED
        if self.private and actor in PERMISSIONS[action]:
            return reason, errors.PRIVATE
        return reason, errors.NOT_ALLOWED

    def denial_code(self, action: str, user_id: int | None) -> str | None:
        """None if `user_id` may do `action`, else the code a refusal would carry."""
        try:
            self.authorize(action, user_id)
        except (Unauthorized, NotAllowed) as refused:
            return refused.code
        return None

    def _require_open(self) -> None:
        if self.state in FINAL:
            raise IllegalTransition(f"the Space has {self.state}")

    def go_live(self, actor: int | None) -> Decision:
        self.authorize("go_live", actor)
        return self._to(SpaceState.LIVE), (StateChanged("live"),)

    def end(self, actor: int | None) -> Decision:
        self.authorize("end", actor)
        # The host ended it: nothing is pending any more, and the whole recording stays.
        room = replace(self._to(SpaceState.ENDED), ending=None, warned_at=None, ends_at=None)
        return room, (StateChanged("ended"),)

    def cancel(self, actor: int | None) -> Decision:
        self.authorize("cancel", actor)
        return self._to(SpaceState.CANCELLED), (StateChanged("cancelled"),)

    # -- the system's lifecycle commands (townhall/app/lifecycle.py asks when) ----
    def warn_host_absent(self, now: datetime, ends_at: datetime) -> Decision:
        """Nobody in charge is on stage: everyone is told the Space ends at `ends_at`."""
        if self.state != SpaceState.LIVE:
            raise IllegalTransition(f"the Space is {self.state}, not live")
        if self.ending is not None:
            return self, ()  # already told
        room = replace(self, ending=EndReason.HOST_ABSENT, warned_at=now, ends_at=ends_at)
        return room, (EndingScheduled(EndReason.HOST_ABSENT, now.isoformat(), ends_at.isoformat()),)

    def host_returned(self) -> Decision:
        """The host or a co-host is back on stage: the Space goes on."""
        if self.ending != EndReason.HOST_ABSENT:
            return self, ()
        room = replace(self, ending=None, warned_at=None, ends_at=None)
        return room, (EndingCancelled(EndReason.HOST_ABSENT),)

    def end_abandoned(self, now: datetime) -> Decision:
        """The warned time came with nobody in charge back: the Space ends itself, and
        its replay stops where the warning was (the silence after it is not kept)."""
        if self.state != SpaceState.LIVE or self.ending != EndReason.HOST_ABSENT:
            raise IllegalTransition("the Space is not about to end itself")
        assert self.ends_at is not None and self.warned_at is not None
        if now < self.ends_at:
            raise IllegalTransition("the Space ends itself only at the time it announced")
        room = replace(self._to(SpaceState.ENDED), ending=None, ends_at=None,
                       end_reason=EndReason.HOST_ABSENT)
        return room, (RecordingCut(self.warned_at.isoformat()), StateChanged("ended"))

    def end_by_operator(self) -> Decision:
        """An operator ends a live Space (townhall/app/moderation.py logs why)."""
        if self.state != SpaceState.LIVE:
            raise IllegalTransition(f"only a live Space can be ended, not a {self.state} one")
        room = replace(self._to(SpaceState.ENDED), ending=None, warned_at=None, ends_at=None,
                       end_reason=EndReason.OPERATOR)
        return room, (StateChanged("ended"),)

    def drop_suspended(self, user_id: int) -> Decision:
        """A suspended account leaves this Space's stage, hands and invitations (it keeps
        listening like anyone); its own Spaces end instead (end_by_operator)."""
        if user_id == self.host_id or self.state in FINAL:
            return self, ()
        room = self._drop(user_id)
        if room == self:
            return self, ()
        events: tuple[Event, ...] = ()
        if user_id in self.hands:
            events += (HandLowered(user_id),)
        if user_id in self.on_speaker_list:
            events += (RoleChanged(user_id, Role.LISTENER),)
        return room, events

    def expire(self) -> Decision:
        """A Space that never went live, long after its start time: cancelled."""
        if self.state != SpaceState.SCHEDULED:
            raise IllegalTransition(f"only a Space that never started expires, not a {self.state} one")
        room = replace(self._to(SpaceState.CANCELLED), end_reason=EndReason.NEVER_STARTED)
        return room, (StateChanged("cancelled"),)

    # -- the speaker list ----------------------------------------------------
    def _check_room_for_speaker(self) -> None:
        if len(self.on_speaker_list) >= limits.MAX_SPEAKERS:
            raise IllegalTransition(f"a Space has at most {limits.MAX_SPEAKERS} speakers")

    def _make_speaker(self, user_id: int) -> Decision:
        self._check_room_for_speaker()
        room = replace(
            self,
            speakers=self.speakers | {user_id},
            invited=self.invited - {user_id},
            hands=tuple(h for h in self.hands if h != user_id),
        )
        return room, (RoleChanged(user_id, Role.SPEAKER),)

    def accept_invite_code(self, actor: int | None) -> Decision:
        """A signed-in user followed the host's invite link."""
        self.authorize("accept_invite", actor)
        self._require_open()
        assert actor is not None
        if actor in self.on_speaker_list:
            return self, ()
        return self._make_speaker(actor)

    def invite(self, actor: int | None, user_id: int | None = None) -> Decision:
        """Invite a user directly (or, without one, check an invite link may be made)."""
        self.authorize("invite", actor)
        self._require_open()
        if user_id is None:
            return self, ()
        self.check_can_join(user_id)
        if user_id in self.on_speaker_list:
            raise IllegalTransition("that user is already a speaker")
        if user_id in self.invited:
            raise IllegalTransition("that user is already invited")
        return replace(self, invited=self.invited | {user_id}), (SpeakerInvited(user_id),)

    def accept_invitation(self, actor: int | None) -> Decision:
        self.authorize("accept_invite", actor)
        self._require_open()
        assert actor is not None
        if actor in self.on_speaker_list:
            return self, ()  # already speaking: nothing to accept
        if actor not in self.invited:
            raise IllegalTransition("you have no invitation to speak")
        return self._make_speaker(actor)

    # -- the guest list (who may listen to a private Space) -------------------
    def add_guest(self, actor: int | None, user_id: int) -> Decision:
        self.authorize("manage_listeners", actor)
        self._require_open()
        self.check_can_join(user_id)
        if user_id in self.on_speaker_list:
            raise IllegalTransition("that user is already a speaker")
        if user_id in self.guests:
            raise IllegalTransition("that user is already on the guest list")
        return replace(self, guests=self.guests | {user_id}), (GuestChanged(user_id, True),)

    def remove_guest(self, actor: int | None, user_id: int) -> Decision:
        self.authorize("manage_listeners", actor)
        if user_id not in self.guests:
            raise IllegalTransition("that user is not on the guest list")
        return replace(self, guests=self.guests - {user_id}), (GuestChanged(user_id, False),)

    def raise_hand(self, actor: int | None) -> Decision:
        self.check_can_join(actor)
        self.authorize("raise_hand", actor)
        assert actor is not None
        if self.state != SpaceState.LIVE:
            raise IllegalTransition("hands can be raised only while the Space is live")
        if actor in self.hands:
            raise IllegalTransition("your hand is already raised")
        return replace(self, hands=(*self.hands, actor)), (HandRaised(actor),)

    def lower_hand(self, actor: int | None) -> Decision:
        self.authorize("lower_hand", actor)
        if actor not in self.hands:
            raise IllegalTransition("your hand is not raised")
        return replace(self, hands=tuple(h for h in self.hands if h != actor)), (
            HandLowered(actor),
        )

    def approve_hand(self, actor: int | None, user_id: int) -> Decision:
        self.authorize("approve_hand", actor)
        self._require_open()
        if user_id not in self.hands:
            raise IllegalTransition("that user has not raised a hand")
        room, events = self._make_speaker(user_id)
        return room, (HandLowered(user_id, approved=True), *events)

    def decline_hand(self, actor: int | None, user_id: int) -> Decision:
        self.authorize("decline_hand", actor)
        if user_id not in self.hands:
            raise IllegalTransition("that user has not raised a hand")
        return replace(self, hands=tuple(h for h in self.hands if h != user_id)), (
            HandLowered(user_id),
        )

    def step_down(self, actor: int | None) -> Decision:
        """A speaker or co-host goes back to listening."""
        if actor == self.host_id:
            raise NotAllowed("the host cannot step down; end the Space instead")
        self.authorize("step_down", actor)
        assert actor is not None
        room = replace(
            self,
            speakers=self.speakers - {actor},
            cohosts=self.cohosts - {actor},
            muted=self.muted - {actor},
        )
        return room, (RoleChanged(actor, Role.LISTENER),)

    # -- co-hosts ------------------------------------------------------------
    def add_cohost(self, actor: int | None, user_id: int) -> Decision:
        self.authorize("add_cohost", actor)
        self._require_open()
        self.check_can_join(user_id)
        if user_id == self.host_id or user_id in self.cohosts:
            raise IllegalTransition("that user is already a host or co-host")
        if len(self.cohosts) >= limits.MAX_COHOSTS:
            raise IllegalTransition(f"a Space has at most {limits.MAX_COHOSTS} co-hosts")
        if user_id not in self.speakers:
            self._check_room_for_speaker()
        room = replace(
            self,
            cohosts=self.cohosts | {user_id},
            speakers=self.speakers - {user_id},
            invited=self.invited - {user_id},
            hands=tuple(h for h in self.hands if h != user_id),
        )
        return room, (RoleChanged(user_id, Role.COHOST),)

    def remove_cohost(self, actor: int | None, user_id: int) -> Decision:
        self.authorize("remove_cohost", actor)
        if user_id not in self.cohosts:
            raise IllegalTransition("that user is not a co-host")
        room = replace(self, cohosts=self.cohosts - {user_id}, speakers=self.speakers | {user_id})
        return room, (RoleChanged(user_id, Role.SPEAKER),)

    # -- captions ------------------------------------------------------------
    def set_captions(self, actor: int | None, on: bool) -> Decision:
        """The host or a co-host switches the Space's live captions on or off."""
        self.authorize("captions", actor)
        self._require_open()
        if self.captions == on:
            return self, ()
        return replace(self, captions=on), (CaptionsChanged(on),)

    # -- mutes ---------------------------------------------------------------
    def mute(self, actor: int | None, user_id: int) -> Decision:
        """A speaker mutes themselves; the host or a co-host mutes anyone speaking."""
        self.authorize("mute_self" if actor == user_id else "mute_other", actor)
        if actor != user_id and user_id == self.host_id:
            raise NotAllowed("nobody can mute the host")
        if user_id not in self.on_speaker_list:
            raise IllegalTransition("that user is not a speaker")
        if user_id in self.muted:
            return self, ()
        assert actor is not None
        return replace(self, muted=self.muted | {user_id}), (MuteChanged(user_id, True, actor),)

    def unmute(self, actor: int | None, user_id: int) -> Decision:
        """Only speakers unmute themselves: nobody turns on someone else's microphone."""
        self.authorize("unmute_self", actor)
        if actor != user_id:
            raise NotAllowed("only the speaker can unmute themselves")
        if user_id not in self.muted:
            return self, ()
        return replace(self, muted=self.muted - {user_id}), (MuteChanged(user_id, False, actor),)

    def mute_all(self, actor: int | None) -> Decision:
        self.authorize("mute_all", actor)
        assert actor is not None
        targets = sorted(self.on_speaker_list - {actor, self.host_id} - self.muted)
        room = replace(self, muted=self.muted | set(targets))
        return room, tuple(MuteChanged(u, True, actor) for u in targets)

    # -- removal and blocks --------------------------------------------------
    def _drop(self, user_id: int) -> Room:
        return replace(
            self,
            cohosts=self.cohosts - {user_id},
            speakers=self.speakers - {user_id},
            invited=self.invited - {user_id},
            guests=self.guests - {user_id},
            hands=tuple(h for h in self.hands if h != user_id),
            muted=self.muted - {user_id},
        )

    def remove(self, actor: int | None, user_id: int) -> Decision:
        """Out of this Space for good: cannot rejoin it."""
        self.authorize("remove", actor)
        if user_id == self.host_id:
            raise NotAllowed("nobody can remove the host")
        if user_id in self.cohosts and actor != self.host_id:
            raise NotAllowed("only the host can remove a co-host")
        if user_id in self.removed:
            raise IllegalTransition("that user was already removed")
        room = replace(self._drop(user_id), removed=self.removed | {user_id})
        return room, (Removed(user_id),)

    def block(self, actor: int | None, user_id: int) -> Decision:
        """The host blocks a user from all their Spaces (the caller stores the block)."""
        self.authorize("block", actor)
        if user_id == self.host_id:
            raise IllegalTransition("you cannot block yourself")
        if user_id in self.blocked:
            raise IllegalTransition("that user is already blocked")
        room = replace(
            self._drop(user_id),
            blocked=self.blocked | {user_id},
            removed=self.removed | {user_id},
        )
        return room, (Removed(user_id, blocked=True),)
