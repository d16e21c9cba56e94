"""Operator moderation: what may be reported and done, who is suspended, and the public
transparency log's hash chain. Decisions only, no I/O (townhall/app/moderation.py
carries them out).

The log is a hash chain: each entry's `hash` is SHA-256 over its public fields and the
hash of the entry before it (the first one's "before" is GENESIS), serialised as JSON
with sorted keys and no spaces. Anyone holding the entries (GET /api/transparency) can
recompute every hash and see that nothing was changed, taken out or slipped in since the
head they were shown (GET /api/transparency/head); `verify` here is the one check, used
by `townhall transparency verify` and the tests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from townhall.domain import errors
from townhall.domain.errors import BadRequest, Conflict, Forbidden

# Why someone reports, and why an operator acts: one fixed list, so the log's monthly
# counts mean something and nobody's free text is published.
REASONS: dict[str, str] = {
    "spam": "Spam or scams",
    "harassment": "Harassment or bullying",
    "hate": "Hateful conduct",
    "violence": "Violence or threats",
    "sexual": "Sexual content",
    "illegal": "Illegal content",
    "impersonation": "Impersonation",
    "other": "Something else",
}
# Why an operator undoes or keeps an action (answering an appeal, or on their own review).
ANSWERS: dict[str, str] = {
    "appeal_granted": "Appeal granted",
    "appeal_denied": "Appeal denied",
    "reviewed": "Lifted on review",
}
REASON_LABELS = {**REASONS, **ANSWERS}

# What can be reported.
TARGET_TYPES = ("space", "user", "replay")

# Operator actions, as the log names them.
SUSPEND = "suspend"
REINSTATE = "reinstate"
END_SPACE = "end_space"
TAKE_DOWN = "take_down"
RESTORE = "restore"  # a taken-down replay back up
APPEAL_GRANTED = "appeal_granted"  # an ended Space's appeal: nothing left to undo
APPEAL_DENIED = "appeal_denied"
ACTION_LABELS = {
    SUSPEND: "Account suspended",
    REINSTATE: "Account reinstated",
    END_SPACE: "Live Space ended",
    TAKE_DOWN: "Replay taken down",
    RESTORE: "Replay restored",
    APPEAL_GRANTED: "Appeal granted",
    APPEAL_DENIED: "Appeal denied",
}
# Actions an operator takes against someone (each may be appealed once, by whom it is about).
SANCTIONS = (SUSPEND, END_SPACE, TAKE_DOWN)
# What each sanction targets.
SANCTION_TARGET = {SUSPEND: "user", END_SPACE: "space", TAKE_DOWN: "replay"}
# The role recorded for whoever acts (the log never names the person).
OPERATOR_ROLE = "operator"

GENESIS = "0" * 64
# The fields of an entry that are public and hashed, in the JSON the API serves.
PUBLIC_FIELDS = ("seq", "at", "action", "target_type", "target", "reason", "role", "answers",
                 "until")


def check_report(target_type: str, reason: str) -> None:
    """A report names a kind of target and a reason from the fixed lists (the API's
    schema says so too; this is the rule)."""
    if target_type not in TARGET_TYPES:
        raise BadRequest(f"Report a {', a '.join(TARGET_TYPES)}.", field="target_type")
    if reason not in REASONS:
        raise BadRequest("Pick a reason from the list.", field="reason")


def check_sanction(action: str, reason: str, days: int | None) -> None:
    if action not in SANCTIONS:
        raise BadRequest("Choose suspend, end the Space or take the replay down.",
                         field="action")
    if reason not in REASONS:
        raise BadRequest("Pick a reason from the list.", field="reason")
    if days is not None and action != SUSPEND:
        raise BadRequest("Only a suspension lasts for a time.", field="days")


# -- standing ------------------------------------------------------------------------
def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def suspended(entry: int | None, until: datetime | None, now: datetime) -> bool:
    """Is a suspension in force? `entry` is the log entry that suspended them (None: in
    good standing); `until` None means until an operator lifts it."""
    return entry is not None and (until is None or _utc(until) > _utc(now))


class Suspended(Forbidden):
    """A suspended person tried to act: what for, until when, and where to appeal."""

    code = errors.SUSPENDED


def refuse_suspended(reason: str, until: datetime | None) -> Suspended:
    label = REASON_LABELS.get(reason, reason).lower()
    when = (f"until {iso(until).replace('T', ' ').replace('Z', ' UTC')}" if until is not None
            else "until an operator lifts it")
    return Suspended(f"Your account is suspended {when} ({label}). You can still sign in, "
                     "read and appeal: see /standing.")


def check_may_suspend(operator_id: int, target_id: int, target_is_operator: bool,
                      already: bool) -> None:
    if operator_id == target_id:
        raise BadRequest("You cannot suspend yourself.", field="target")
    if target_is_operator:
        raise Forbidden("Operators are not suspended from the console: remove their "
                        "operator role first (townhall operator remove).", code=errors.NOT_ALLOWED)
    if already:
        raise Conflict("That account is already suspended.", code=errors.ILLEGAL_TRANSITION)


# -- appeals ------------------------------------------------------------------------
def check_appeal(action: str, about_them: bool, answered: bool, appealed: bool) -> None:
    """Appeal once per action, only by whom it is about, while it still stands."""
    if action not in SANCTIONS:
        raise BadRequest("Only a suspension, an ended Space or a taken-down replay can be "
                         "appealed.", field="entry")
    if not about_them:
        raise Forbidden("Only the person an action is about can appeal it.",
                        code=errors.NOT_ALLOWED)
    if appealed:
        raise Conflict("You already appealed this action: an operator will answer it.",
                       code=errors.ALREADY_APPEALED)
    if answered:
        raise Conflict("This action was already lifted.", code=errors.ILLEGAL_TRANSITION)


def answer_action(sanction: str, grant: bool) -> str:
    """The log entry that answers an appeal of `sanction`."""
    if not grant:
        return APPEAL_DENIED
    return {SUSPEND: REINSTATE, TAKE_DOWN: RESTORE}.get(sanction, APPEAL_GRANTED)


# -- the hash chain -------------------------------------------------------------------
def iso(moment: datetime) -> str:
    """A moment as the log writes it: UTC, whole seconds, 'Z'."""
    return _utc(moment).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def canonical(fields: Mapping[str, Any], prev_hash: str) -> bytes:
    body = {name: fields.get(name) for name in PUBLIC_FIELDS}
    body["prev_hash"] = prev_hash
    return json.dumps(body, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def entry_hash(fields: Mapping[str, Any], prev_hash: str) -> str:
    return hashlib.sha256(canonical(fields, prev_hash)).hexdigest()


@dataclass(frozen=True)
class Problem:
    """Where the chain breaks: the first entry that does not check, and how."""

    seq: int
    detail: str


def verify(entries: Iterable[Mapping[str, Any]]) -> tuple[Problem | None, int, str]:
    """Walk the entries in order: (the first problem or None, entries checked, the head
    hash). Catches an edited entry (its hash no longer matches its fields), a deleted
    one (a gap in the numbers, or the next entry's prev_hash names a hash not there) and
    an inserted one (numbers or links out of line)."""
    prev, expected, count = GENESIS, 1, 0
    for entry in entries:
        seq = int(entry["seq"])
        if seq != expected:
            what = (f"entries {expected}–{seq - 1} are missing (deleted?)" if seq > expected
                    else "is out of order or repeated (inserted?)")
            return Problem(seq, f"entry {seq}: {what}"), count, prev
        if entry["prev_hash"] != prev:
            return Problem(seq, f"entry {seq}: its prev_hash is not the hash of entry "
                                f"{seq - 1} (an entry before it was changed, removed or "
                                "inserted)"), count, prev
        if entry_hash(entry, prev) != entry["hash"]:
            return Problem(seq, f"entry {seq}: its fields do not match its hash (it was "
                                "changed)"), count, prev
        prev, expected, count = entry["hash"], seq + 1, count + 1
    return None, count, prev
