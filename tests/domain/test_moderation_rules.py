"""The moderation rules alone: when a suspension is in force, what may be appealed, and
the hash chain's check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from townhall.domain import moderation as rules
from townhall.domain.errors import ClientError

NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)


def test_a_suspension_is_in_force_until_it_runs_out_or_is_lifted() -> None:
    assert rules.suspended(7, NOW + timedelta(seconds=1), NOW)
    assert not rules.suspended(7, NOW, NOW)  # ran out
    assert rules.suspended(7, None, NOW)  # until lifted
    assert not rules.suspended(None, None, NOW)
    refusal = rules.refuse_suspended("spam", NOW + timedelta(days=1))
    assert refusal.code == "suspended" and "2026-12-06 12:00:00 UTC" in refusal.message


@pytest.mark.parametrize(("action", "about_them", "answered", "appealed", "code"), [
    ("suspend", True, False, True, "already_appealed"),
    ("suspend", False, False, False, "not_allowed"),
    ("suspend", True, True, False, "illegal_transition"),
    ("reinstate", True, False, False, "bad_request"),
])
def test_appeals_once_by_whom_it_is_about(action: str, about_them: bool, answered: bool,
                                          appealed: bool, code: str) -> None:
    with pytest.raises(ClientError) as refused:
        rules.check_appeal(action, about_them, answered, appealed)
    assert refused.value.code == code
    rules.check_appeal("take_down", True, False, False)  # allowed


def test_answers() -> None:
    assert rules.answer_action("suspend", True) == "reinstate"
    assert rules.answer_action("take_down", True) == "restore"
    assert rules.answer_action("end_space", True) == "appeal_granted"
    assert rules.answer_action("suspend", False) == "appeal_denied"


def _chain(n: int) -> list[dict]:
    out, prev = [], rules.GENESIS
    for seq in range(1, n + 1):
        fields = {"seq": seq, "at": "2026-12-05T12:00:00Z", "action": "suspend",
                  "target_type": "user", "target": f"u{seq}", "reason": "spam",
                  "role": "operator", "answers": None, "until": None}
        digest = rules.entry_hash(fields, prev)
        out.append({**fields, "prev_hash": prev, "hash": digest})
        prev = digest
    return out


def test_the_chain_names_the_first_bad_entry() -> None:
    assert rules.verify(_chain(4))[0] is None
    edited = _chain(4)
    edited[2]["target"] = "someone else"
    assert rules.verify(edited)[0].seq == 3  # type: ignore[union-attr]
    deleted = _chain(4)
    del deleted[1]
    assert rules.verify(deleted)[0].seq == 3  # type: ignore[union-attr]
    # Deleted and renumbered: the link to the entry before breaks.
    renumbered = _chain(4)
    del renumbered[1]
    for entry in renumbered[1:]:
        entry["seq"] -= 1
    assert rules.verify(renumbered)[0].seq == 2  # type: ignore[union-attr]
