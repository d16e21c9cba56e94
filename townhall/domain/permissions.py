"""Who may do what in a Space: the one table. Room enforces it; the API's authorization
matrix test is generated from it."""

from __future__ import annotations

from enum import StrEnum


class Actor(StrEnum):
    """What someone is to a Space, as far as permissions go."""

    ANONYMOUS = "anonymous"
    LISTENER = "listener"  # signed in, no role in this Space
    GUEST = "guest"  # signed in, no role, but invited: to listen (the guest list) or to speak
    SPEAKER = "speaker"
    COHOST = "cohost"
    HOST = "host"
    REMOVED = "removed"  # removed from this Space or blocked by its host


ANONYMOUS, LISTENER, GUEST, SPEAKER, COHOST, HOST, REMOVED = tuple(Actor)
MODERATORS = frozenset({HOST, COHOST})
ON_STAGE = frozenset({HOST, COHOST, SPEAKER})
AUDIENCE = frozenset({LISTENER, GUEST})  # signed in, not on the speaker list
SIGNED_IN = frozenset({LISTENER, GUEST, SPEAKER, COHOST, HOST})
EVERYONE = frozenset({ANONYMOUS, *SIGNED_IN})  # everyone not removed or blocked

PERMISSIONS: dict[str, frozenset[Actor]] = {
    "view": EVERYONE,
    "listen": EVERYONE,  # the HLS stream (a private Space: signed URLs, GET /playback)
    "go_live": frozenset({HOST}),
    "end": frozenset({HOST}),
    "cancel": frozenset({HOST}),
    "edit": frozenset({HOST}),
    "invite": MODERATORS,
    "manage_listeners": MODERATORS,  # the guest list: who may listen to a private Space
    "accept_invite": SIGNED_IN,
    "raise_hand": AUDIENCE,
    "lower_hand": AUDIENCE,
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
    "react": EVERYONE,
    "pin_link": MODERATORS,
    "captions": MODERATORS,  # switch the Space's live captions on or off
    "remind": SIGNED_IN,
}

# A private Space is for its members: the host, co-hosts, speakers and guests. Outsiders
# (anonymous, or signed in without an invitation) may do nothing in it but follow an
# invite link to speak (the link is itself an invitation a moderator handed out).
OUTSIDERS = frozenset({ANONYMOUS, LISTENER})
OPEN_IN_PRIVATE = frozenset({"accept_invite"})

_NEEDS_SIGN_IN = "sign in first"
PRIVATE_MESSAGE = "this Space is private: only people the host invited can listen"


def allowed(action: str, private: bool = False) -> frozenset[Actor]:
    """Who may do `action` in a public Space, or in a private one."""
    actors = PERMISSIONS[action]
    if private and action not in OPEN_IN_PRIVATE:
        return actors - OUTSIDERS
    return actors


def denial_reason(action: str, actor: Actor, private: bool = False) -> str | None:
    """None if allowed, else why not (for the error message)."""
    if actor in allowed(action, private):
        return None
    if actor == ANONYMOUS:
        return _NEEDS_SIGN_IN
    if actor == REMOVED:
        return "you were removed from this Space"
    if private and actor in PERMISSIONS[action]:
        return PRIVATE_MESSAGE
    who = ", ".join(sorted(allowed(action, private)))
    return f"'{action}' is for: {who}"
