"""The incident timeline's rules on crafted minutes (townhall/domain/incidents.py)."""

from __future__ import annotations

import pytest

from townhall import limits
from townhall.domain.incidents import (RULES, Tally, Verdict, judge, network_of,
                                       status_class)

SECONDS = 60.0


def spread(requests: int, networks: int, status: int = 200, **kw: object) -> Tally:
    """`requests` from `networks` different /24s, evenly."""
    tally = Tally(start=0.0)
    for i in range(requests):
        tally.request(f"10.{i % networks // 256}.{i % networks % 256}.0/24", status, **kw)
    return tally


def test_networks_are_24_and_48_never_addresses() -> None:
    assert network_of("203.0.113.77") == "203.0.113.0/24"
    assert network_of("2001:db8:1234:5678::1") == "2001:db8:1234::/48"
    assert network_of("::ffff:198.51.100.9") == "198.51.100.0/24"
    assert network_of("not an address") == "unknown"
    assert [status_class(s) for s in (200, 304, 404, 429, 503, 0)] == [
        "2xx", "3xx", "4xx", "429", "5xx", "5xx"]


def test_quiet_and_busy_spread_minutes_are_healthy() -> None:
    assert judge(Tally(start=0.0).figures(SECONDS)).verdict is Verdict.HEALTHY
    busy = spread(20_000, 2_000, answer_seconds=0.05)
    figures = busy.figures(SECONDS)
    assert figures.networks == 2_000 and figures.top_share == pytest.approx(0.005)
    assert judge(figures).rule == "healthy"


def test_mostly_refused_is_an_attack_at_the_threshold_and_not_below() -> None:
    tally = spread(600, 500)
    for _ in range(600):
        tally.request("192.0.2.0/24", 429, refused="reactions")
    verdict = judge(tally.figures(SECONDS))
    assert (verdict.verdict, verdict.rule) == (Verdict.UNDER_ATTACK, "mostly_refused")
    assert "reactions: 600" in verdict.reason
    tally.request("198.51.100.0/24", 200)  # one more answered: 599.5/1201 < 50 %
    assert judge(tally.figures(SECONDS)).rule != "mostly_refused"


def test_few_requests_say_nothing_about_refusals() -> None:
    tally = Tally(start=0.0)
    per_minute = int(limits.TIMELINE_MIN_REQUESTS_PER_SECOND * SECONDS) - 1
    for _ in range(per_minute):
        tally.request("192.0.2.0/24", 429, refused="sign-in attempts")
    assert judge(tally.figures(SECONDS)).verdict is Verdict.HEALTHY


def test_concentrated_traffic_is_an_attack_only_with_trouble_or_refusals() -> None:
    # A venue behind one NAT: 6,000 requests from one network, all answered fast.
    venue = spread(6_000, 1, answer_seconds=0.05)
    assert judge(venue.figures(SECONDS)).verdict is Verdict.HEALTHY
    # The same with media answers slow: the few networks are the cause.
    slow = spread(6_000, 1, answer_seconds=3.0)
    verdict = judge(slow.figures(SECONDS))
    assert (verdict.verdict, verdict.rule) == (Verdict.UNDER_ATTACK, "concentrated")
    # With 10 % refused (no capacity sign): pushing at the limits.
    pushing = spread(5_400, 4)
    for _ in range(600):
        pushing.request("10.0.0.0/24", 429, refused="audience beacons")
    assert judge(pushing.figures(SECONDS)).rule == "concentrated"


def test_trouble_with_spread_traffic_is_overload() -> None:
    errors = spread(10_000, 3_000)
    for _ in range(300):  # 3 % 5xx
        errors.request("10.200.0.0/24", 503)
    verdict = judge(errors.figures(SECONDS))
    assert (verdict.verdict, verdict.rule) == (Verdict.OVERLOADED, "capacity")
    assert "5xx on 3% of answers" in verdict.reason
    borderline = spread(10_000, 3_000)
    for _ in range(200):  # 1.96 %: not over 2 %
        borderline.request("10.200.0.0/24", 503)
    assert judge(borderline.figures(SECONDS)).verdict is Verdict.HEALTHY


def test_slow_first_audio_failed_joins_and_a_late_mixer_are_overload() -> None:
    slow = spread(3_000, 1_000)
    for i in range(100):
        slow.first_audio(1.0 if i < 90 else 8.0)
    assert judge(slow.figures(SECONDS)).rule == "capacity"
    joins = spread(3_000, 1_000)
    joins.join_attempts, joins.join_successes = 100, 89
    assert "89 of 100 joins" in judge(joins.figures(SECONDS)).reason
    joins.join_attempts, joins.join_successes = 19, 0  # too few attempts to judge
    assert judge(joins.figures(SECONDS)).verdict is Verdict.HEALTHY
    # A CPU-starved origin with no listeners at all: the mixer is late.
    starved = Tally(start=0.0, mixer_ticks=3_000, mixer_late=600)
    assert judge(starved.figures(SECONDS)).verdict is Verdict.OVERLOADED


def test_a_backend_failure_is_named_first() -> None:
    tally = spread(1_000, 1)
    for _ in range(5_000):
        tally.request("192.0.2.0/24", 429, refused="reactions")
    tally.backend_failures = 1
    verdict = judge(tally.figures(SECONDS))
    assert (verdict.verdict, verdict.rule) == (Verdict.DEGRADED, "backend_failed")


def test_tallies_add_up_across_origins_and_survive_json() -> None:
    a, b = spread(100, 10), spread(100, 10)
    b.request("192.0.2.0/24", 429, refused="reactions")
    a.first_audio(0.5)
    b.first_audio(1.5)
    a.merge(b)
    figures = a.figures(SECONDS)
    assert (figures.requests, figures.networks, figures.refused) == (201, 11, {"reactions": 1})
    again = Tally.from_json(a.to_json()).figures(SECONDS)
    assert again == figures
    sealed = Tally.from_json(a.to_json())
    sealed.merge(spread(50, 5))  # merged with a sealed tally: an estimate, never less
    assert sealed.figures(SECONDS).networks == 11 and sealed.requests == 251


def test_networks_past_the_bound_go_to_others() -> None:
    tally = spread(limits.TIMELINE_MAX_NETWORKS + 100, limits.TIMELINE_MAX_NETWORKS + 100)
    figures = tally.figures(SECONDS)
    assert len(tally.networks) == limits.TIMELINE_MAX_NETWORKS and tally.others == 100
    assert figures.networks_capped and figures.networks == limits.TIMELINE_MAX_NETWORKS + 1


def test_every_rule_is_written_down_once() -> None:
    assert [rule.id for rule in RULES] == ["backend_failed", "mostly_refused", "concentrated",
                                           "capacity", "healthy"]
    assert all(rule.text.endswith((".", ")")) for rule in RULES)
