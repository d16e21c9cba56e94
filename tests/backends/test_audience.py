"""Audience figures: concurrent, peak and unique listeners from player beacons."""

from __future__ import annotations

import secrets

import httpx

from townhall.testing.servers import Server, live_space, signed_in_client
from townhall.backends.audience import CONCURRENT_WINDOW, MIN_BEACON_GAP
from townhall.backends.memory.audience import AudienceCounter, plot_points


def test_counter_window_peak_unique_and_joins() -> None:
    counter = AudienceCounter()
    for i in range(5):
        assert counter.beat(f"s{i}", 1000.0 + i)
    assert not counter.beat("s0", 1000.0 + MIN_BEACON_GAP / 2)  # too soon: not counted twice
    assert counter.concurrent(1010.0) == 5 and counter.peak == 5 and counter.unique == 5
    counter.beat("s0", 1020.0)  # only s0 keeps playing
    assert counter.concurrent(1004.0 + CONCURRENT_WINDOW + 1) == 1
    assert counter.sample(1004.0 + CONCURRENT_WINDOW + 1) == 1
    counter.beat("late", 1070.0)
    assert counter.unique == 6 and counter.peak == 5
    assert counter.joins_per_minute == {960: 5, 1020: 1}  # minutes starting 16:00 and 17:00
    again = AudienceCounter.from_summary(counter.summary(1080.0))
    assert (again.peak, again.unique, again.samples) == (5, 6, counter.samples)


def test_plot_points_span_the_box() -> None:
    points = plot_points([(0.0, 0), (5.0, 10), (10.0, 5)], 100, 50).split()
    assert points == ["0.0,50.0", "50.0,0.0", "100.0,25.0"]


def test_beacons_count_anonymous_listeners_and_figures_survive_the_end(server: Server) -> None:
    host = signed_in_client(server.base_url, "audhost")
    space = live_space(host, "Counted")
    sessions = [secrets.token_urlsafe(16) for _ in range(7)]
    with httpx.Client(base_url=server.base_url) as anonymous:
        for session in sessions:
            beat = anonymous.post(f"/api/spaces/{space['id']}/beacon", json={"session": session})
            assert beat.status_code == 204
        assert anonymous.post(f"/api/spaces/{space['id']}/beacon",
                              json={"session": "short"}).status_code == 422
        live = anonymous.get(f"/api/spaces/{space['id']}/audience").json()
        assert (live["concurrent"], live["peak"], live["unique"], live["live"]) == (7, 7, 7, True)
        assert host.get(f"/api/spaces/{space['id']}").json()["listeners"] == 7
        assert host.post(f"/api/spaces/{space['id']}/end").status_code == 200
        after = anonymous.get(f"/api/spaces/{space['id']}/audience").json()
        assert (after["concurrent"], after["peak"], after["unique"], after["live"]) == (0, 7, 7, False)
        assert after["samples"] and after["joins_per_minute"][0][1] == 7
        ended = anonymous.post(f"/api/spaces/{space['id']}/beacon", json={"session": sessions[0]})
        assert ended.status_code == 400


def test_a_returning_player_is_not_a_new_unique_listener() -> None:
    counter = AudienceCounter()
    counter.beat("paused", 0.0)
    assert counter.concurrent(CONCURRENT_WINDOW + 1) == 0  # paused for a while: gone
    counter.beat("paused", 100.0)  # resumes with the same id
    assert (counter.unique, counter.concurrent(100.0)) == (1, 1)
    assert sum(counter.joins_per_minute.values()) == 1
