"""Who may do what in a Space: the one table. Room enforces it; the API's authorization
matrix test is generated from it."""

from __future__ import annotations

from enum import StrEnum


class Actor(StrEnum):
    """What someone is to a Space, as far as permissions go."""

    ANONYMOUS = "anonymous"
    LISTENER = "listener"  # signed in, no role in this Space
    SPEAKER = "speaker"
    COHOST = "cohost"
    HOST = "host"
    REMOVED = "removed"  # removed from this Space or blocked by its host


ANONYMOUS, LISTENER, SPEAKER, COHOST, HOST, REMOVED = tuple(Actor)
MODERATORS = frozenset({HOST, COHOST})
ON_STAGE = frozenset({HOST, COHOST, SPEAKER})
SIGNED_IN = frozenset({LISTENER, SPEAKER, COHOST, HOST})

PERMISSIONS: dict[str, frozenset[Actor]] = {
    "view": frozenset({ANONYMOUS, LISTENER, SPEAKER, COHOST, HOST}),
    "go_live": frozenset({HOST}),
    "end": frozenset({HOST}),
    "cancel": frozenset({HOST}),
    "edit": frozenset({HOST}),
    "invite": MODERATORS,
    "accept_invite": SIGNED_IN,
    "raise_hand": frozenset({LISTENER}),
    "lower_hand": frozenset({LISTENER}),
    "approve_hand": MODERATORS,
    "decline_hand": MODERATORS,
    "step_down": frozenset({SPEAKER, COHOST}),
    "add_cohost": frozenset({HOST}),
    "remove_cohost": frozenset({HOST}),
    "mute_other": MODERATORS,
    "mute_self": ON_STAGE,
    "unmute_self": ON_STAGE,
    "mute_all": MODERATORS,
    "remove": MODERATORS,
    "block": frozenset({HOST}),
    "publish": ON_STAGE,
    "react": frozenset({ANONYMOUS, LISTENER, SPEAKER, COHOST, HOST}),
    "pin_link": MODERATORS,
    "remind": SIGNED_IN,
}

_NEEDS_SIGN_IN = "sign in first"


def denial_reason(action: str, actor: Actor) -> str | None:
    """None if allowed, else why not (for the error message)."""
    if actor in PERMISSIONS[action]:
        return None
    if actor == ANONYMOUS:
        return _NEEDS_SIGN_IN
    if actor == REMOVED:
        return "you were removed from this Space"
    allowed = ", ".join(sorted(PERMISSIONS[action]))
    return f"'{action}' is for: {allowed}"
