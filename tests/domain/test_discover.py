"""How Discover ranks (townhall/domain/discover.py): the documented formula, each term a
sentence with its number, the caps, and the order of cards."""

from __future__ import annotations

import math

import pytest

from townhall.domain import discover as d


def test_each_term_is_a_reason_biggest_first() -> None:
    ranked = d.rank(d.Signals(live=True, followed_speakers=2, host_followed_by=1,
                              shared_topics=(("tech", d.FROM_FOLLOWS),), listeners=1240))
    # log10(1241) ≈ 3.09 outweighs one follower of the host (2); equal parts (the topic
    # and being live, 1 each) keep the formula's order.
    assert ranked.reasons == ["2 people you follow are speaking", "1,240 listening now",
                              "Its host is followed by 1 person you follow",
                              "People you follow talk about #tech", "Live now"]
    assert ranked.score == pytest.approx(6 + 2 + math.log10(1241) + 1 + 1, abs=1e-3)


def test_upcoming_says_who_will_speak_reminders_and_when() -> None:
    ranked = d.rank(d.Signals(live=False, followed_speakers=1, reminders=1,
                              shared_topics=(("jazz", d.FROM_REMINDERS),),
                              hours_to_start=1 / 3, listeners=50))
    assert ranked.reasons == ["1 person you follow will speak",
                              "You set reminders for Spaces about #jazz",
                              "Starts in 20 min", "1 reminder set"]
    # Listeners of a Space not on air count for nothing.
    assert ranked.score == pytest.approx(3 + 1 + 0.75 + math.log10(2), abs=1e-3)


@pytest.mark.parametrize(("hours", "text"), [
    (-1, "Starting now"), (0, "Starting now"), (0.5, "Starts in 30 min"),
    (3, "Starts in 3 h"), (47, "Starts in 47 h"), (72, "Starts in 3 days")])
def test_when_it_starts(hours: float, text: str) -> None:
    assert d.starts_in(max(0, hours)) == text
    assert d.rank(d.Signals(live=False, hours_to_start=hours)).reasons == [text]


def test_a_now_space_not_started_yet_still_says_why() -> None:
    assert d.rank(d.Signals(live=False)).reasons == ["Starting soon"]


def test_a_crowd_counts_at_most_the_cap_but_the_sentence_tells_the_truth() -> None:
    many = d.rank(d.Signals(live=True, followed_speakers=12, host_followed_by=40,
                            shared_topics=(("a", d.FROM_FOLLOWS), ("b", d.FROM_FOLLOWS),
                                           ("c", d.FROM_FOLLOWS))))
    assert many.score == pytest.approx(3 * 5 + 2 * 5 + 2 + 1)
    assert "12 people you follow are speaking" in many.reasons
    assert "Its host is followed by 40 people you follow" in many.reasons
    assert not any("#c" in r for r in many.reasons)  # only the counted topics are said


def test_topics_match_whatever_their_case_once_each() -> None:
    interests = {"tech": d.FROM_FOLLOWS, "music": d.FROM_REMINDERS}
    assert d.shared_topics(["Tech", "Cooking", "MUSIC", "tech"], interests) == (
        ("Tech", d.FROM_FOLLOWS), ("MUSIC", d.FROM_REMINDERS))


def test_order_score_then_live_then_listeners_then_sooner_then_id() -> None:
    live = d.Signals(live=True, listeners=9)
    quiet = d.Signals(live=True, listeners=0)
    soon = d.Signals(live=False, hours_to_start=0.1)
    later = d.Signals(live=False, hours_to_start=5)
    entries = sorted([(d.order_key(d.rank(s), s, name), name)
                      for name, s in (("later", later), ("quiet", quiet), ("soon", soon),
                                      ("live", live))])
    assert [name for _, name in entries] == ["live", "quiet", "soon", "later"]
    tie = d.Signals(live=True)
    assert d.order_key(d.rank(tie), tie, "a") < d.order_key(d.rank(tie), tie, "b")
