"""What a viewer may do right now, for the page to show (it keeps no copy of a rule).

Each answer comes from the Room itself: an action is offered when trying its command
on the (immutable) Room succeeds and changes something. So the page's buttons follow
the permission table, the state machine and every special case (nobody mutes the host,
only the host removes a co-host...) without restating any of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any

from townhall.domain.errors import ClientError
from townhall.domain.room import FINAL, Decision, EndReason, Room, SpaceState

Command = Callable[[Room], Decision]

# Actions on the Space itself, as the command that carries each out for `viewer`.
_SPACE_ACTIONS: dict[str, Callable[[int | None], Command]] = {
    "go_live": lambda v: lambda r: r.go_live(v),
    "end": lambda v: lambda r: r.end(v),
    "cancel": lambda v: lambda r: r.cancel(v),
    "invite": lambda v: lambda r: r.invite(v),
    "raise_hand": lambda v: lambda r: r.raise_hand(v),
    "lower_hand": lambda v: lambda r: r.lower_hand(v),
    "accept_invitation": lambda v: lambda r: r.accept_invitation(v),
    "step_down": lambda v: lambda r: r.step_down(v),
    "mute_all": lambda v: lambda r: r.mute_all(v),
    "mute_self": lambda v: lambda r: r.mute(v, v),  # type: ignore[arg-type]
    "unmute_self": lambda v: lambda r: r.unmute(v, v),  # type: ignore[arg-type]
    "captions": lambda v: lambda r: r.set_captions(v, not r.captions),
}
# Actions that need only the permission table and an open Space (their command takes
# input the page asks for: a title, a link, a username).
_OPEN_PERMISSIONS = ("edit", "manage_listeners", "pin_link", "add_cohost", "block")
_ANY_STATE_PERMISSIONS = ("view", "listen")

# Actions on one person, as the command `viewer` would run on `target`.
_PERSON_ACTIONS: dict[str, Callable[[int | None, int], Command]] = {
    "invite": lambda v, t: lambda r: r.invite(v, t),  # to speak
    "mute": lambda v, t: lambda r: r.mute(v, t),
    "remove": lambda v, t: lambda r: r.remove(v, t),
    "block": lambda v, t: lambda r: r.block(v, t),
    "add_cohost": lambda v, t: lambda r: r.add_cohost(v, t),
    "remove_cohost": lambda v, t: lambda r: r.remove_cohost(v, t),
    "approve_hand": lambda v, t: lambda r: r.approve_hand(v, t),
    "decline_hand": lambda v, t: lambda r: r.decline_hand(v, t),
    "remove_guest": lambda v, t: lambda r: r.remove_guest(v, t),
}
_OPEN = (SpaceState.SCHEDULED, SpaceState.LIVE)


def _changes(room: Room, command: Command) -> bool:
    try:
        after, events = command(room)
    except ClientError:
        return False
    return bool(events) or after != room


def _succeeds(check: Callable[[], None]) -> bool:
    try:
        check()
    except ClientError:
        return False
    return True


def space_actions(room: Room, viewer: int | None) -> list[str]:
    """What `viewer` may do to the Space now (names as in permissions.PERMISSIONS)."""
    can = [a for a in _ANY_STATE_PERMISSIONS if room.may(a, viewer)]
    if room.state in FINAL:  # over: nothing left to do in it but listen to the replay
        return sorted(can)
    if room.state == SpaceState.LIVE and room.may("react", viewer):
        can.append("react")
    if room.state == SpaceState.SCHEDULED and room.may("remind", viewer):
        can.append("remind")
    if _succeeds(lambda: room.check_can_publish(viewer)):
        can.append("publish")
    if room.state in _OPEN:
        can += [a for a in _OPEN_PERMISSIONS if room.may(a, viewer)]
    for name, command in _SPACE_ACTIONS.items():
        if name == "invite":
            if room.may("invite", viewer) and room.state in _OPEN:
                can.append(name)
        elif _changes(room, command(viewer)):
            can.append(name)
    return sorted(can)


def person_actions(room: Room, viewer: int | None, target: int) -> list[str]:
    """What `viewer` may do to `target` now."""
    if viewer is None or viewer == target or room.state in FINAL:
        return []
    return [name for name, command in _PERSON_ACTIONS.items()
            if _changes(room, command(viewer, target))]


def room_json(room: Room) -> dict[str, Any]:
    """A Room as JSON: live events carry it, so any node authorises what it sends."""
    return {k: _json_value(v) for k, v in dataclasses.asdict(room).items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    return value.isoformat() if isinstance(value, datetime) else value


_MOMENTS = ("warned_at", "ends_at")
_REASONS = ("ending", "end_reason")


def room_from_json(data: dict[str, Any]) -> Room:
    fields = dict(data)
    for name in (f.name for f in dataclasses.fields(Room) if isinstance(f.default, frozenset)):
        fields[name] = frozenset(fields.get(name, ()))
    fields["hands"] = tuple(fields.get("hands", ()))
    fields["state"] = SpaceState(fields["state"])
    for name in _MOMENTS:
        if fields.get(name) is not None:
            fields[name] = datetime.fromisoformat(fields[name])
    for name in _REASONS:
        if fields.get(name) is not None:
            fields[name] = EndReason(fields[name])
    return Room(**fields)
