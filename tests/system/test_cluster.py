"""Cluster mode with real parts: Redis + PostgreSQL + two origin processes on loopback.

A Space's media runs on the origin holding its lease; the other origin serves the same
live HLS from Redis (blocking reloads woken by pub/sub), redirects WHIP to the owner,
carries room events both ways and counts the same audience."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import m3u8
import pytest

from townhall import limits
from townhall.testing.audio import band_level_db, dominant_frequency
from townhall.testing.services import postgres_server, redis_server
from townhall.testing.servers import MANY_SIGNUPS, Server, live_space, signed_in_client, stage, start_server, stop_server
from townhall.testing.waiting import wait_until_async
from townhall.tools.clients.hls import HlsReader
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher, sine
from townhall.app.media_host import LIVE_SPACES_EVERY


@dataclass
class Cluster:
    redis_url: str
    database_url: str
    recordings: Path
    origins: list[Server]

    def env(self) -> dict[str, str]:
        return {**MANY_SIGNUPS, "TOWNHALL_REDIS_URL": self.redis_url,
                "TOWNHALL_DATABASE_URL": self.database_url,
                # Replays survive a node: recordings live on storage every origin shares.
                "TOWNHALL_RECORDINGS_DIR": str(self.recordings)}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with redis_server() as redis_url, postgres_server() as database_url:
        tmp = tmp_path_factory.mktemp("cluster")
        cluster = Cluster(redis_url, database_url, tmp / "recordings", [])
        for name in ("a", "b"):
            (tmp / name).mkdir()
            cluster.origins.append(start_server(tmp / name, command="serve", extra_env=cluster.env()))
        yield cluster
        for origin in cluster.origins:
            stop_server(origin)
        for origin in cluster.origins:
            assert "Traceback" not in origin.log(), origin.log()[-5000:]


def as_client_of(client: httpx.Client, origin: Server) -> httpx.Client:
    """The same signed-in person, talking to another origin (sessions are in PostgreSQL)."""
    return httpx.Client(base_url=origin.base_url, cookies=client.cookies, timeout=20,
                        headers={"Origin": origin.base_url})


async def read_tone(url: str, seconds: float) -> tuple[float, HlsReader]:
    async with httpx.AsyncClient() as client:
        reader = HlsReader(url, client)
        await reader.start(parts_back=0)
        await reader.read_seconds(seconds, timeout=20)
    pcm, _ = reader.decode()
    return dominant_frequency(pcm[-int(seconds * 0.8 * 48000):]), reader


async def test_a_space_mixed_on_one_origin_plays_from_the_other(cluster: Cluster) -> None:
    a, b = cluster.origins
    host = signed_in_client(a.base_url, "host")
    space = live_space(host)  # goes live on a: a owns the media
    creds = stage(host, space["id"])
    # The speaker knocks on b; b passes the WHIP request on to a, which mixes.
    speaker = WhipPublisher(creds["whip_url"].replace(a.base_url, b.base_url), creds["token"],
                            SyntheticTrack(sine(440)))
    await speaker.start()
    try:
        assert "whip" in a.log() and speaker.location is not None
        frequency, reader = await read_tone(f"{b.base_url}/hls/{space['id']}/live.m3u8", 4.0)
        assert abs(frequency - 440) <= 5
        # b's blocking reloads wake on Redis pub/sub: parts arrive at the pace they are
        # made (0.256 s), not at a polling interval.
        times = [p.fetched_at for p in reader.parts[3:]]
        gaps = sorted(y - x for x, y in zip(times, times[1:]))
        assert gaps[len(gaps) // 2] < 0.4 and gaps[-1] < 1.0, gaps
        assert httpx.get(f"{a.base_url}/healthz").json()["live_spaces"] == 1
        assert httpx.get(f"{b.base_url}/healthz").json()["live_spaces"] == 0
    finally:
        await speaker.stop()
        host.post(f"/api/spaces/{space['id']}/end")


def test_room_events_fan_out_across_origins(cluster: Cluster) -> None:
    a, b = cluster.origins
    host = signed_in_client(a.base_url, "host")
    space = live_space(host)
    with httpx.Client(timeout=10) as listener, listener.stream(
        "GET", f"{b.base_url}/api/spaces/{space['id']}/events"
    ) as events:
        lines = events.iter_lines()
        assert next(lines).startswith("event: snapshot")
        assert host.post(f"/api/spaces/{space['id']}/reactions", json={"emoji": "👏"}).status_code == 202
        deadline = time.monotonic() + 5
        for line in lines:
            if line.startswith("data:") and json.loads(line[5:]).get("type") == "reaction":
                assert json.loads(line[5:])["emoji"] == "👏"
                break
            assert time.monotonic() < deadline, "the reaction did not reach the other origin"
    host.post(f"/api/spaces/{space['id']}/end")


def test_audience_is_counted_across_origins(cluster: Cluster) -> None:
    a, b = cluster.origins
    host = signed_in_client(a.base_url, "host")
    space = live_space(host)
    sessions = [f"listener-{i}-{time.time_ns()}" for i in range(3)]
    for i, session in enumerate(sessions):
        origin = (a, b)[i % 2]
        response = httpx.post(f"{origin.base_url}/api/spaces/{space['id']}/beacon",
                              json={"session": session})
        assert response.status_code == 204, response.text
    # A repeated beacon from a player is not a new listener, whichever origin it hits.
    httpx.post(f"{b.base_url}/api/spaces/{space['id']}/beacon", json={"session": sessions[0]})
    for origin in (a, b):
        figures = httpx.get(f"{origin.base_url}/api/spaces/{space['id']}/audience").json()
        assert (figures["concurrent"], figures["unique"], figures["peak"]) == (3, 3, 3), figures
    assert host.post(f"/api/spaces/{space['id']}/end").status_code == 200
    final = httpx.get(f"{b.base_url}/api/spaces/{space['id']}/audience").json()
    assert (final["live"], final["unique"], final["peak"]) == (False, 3, 3), final


def test_rate_limits_hold_across_origins(cluster: Cluster) -> None:
    """A client spreading its requests over the origins gets no more than from one:
    the buckets are in Redis (before: each origin had its own, so two origins let
    twice the burst through)."""
    a, b = cluster.origins
    host = signed_in_client(a.base_url, "cheer")
    space = live_space(host)
    on_b = as_client_of(host, b)
    answers = [(host, on_b)[i % 2].post(f"/api/spaces/{space['id']}/reactions",
                                        json={"emoji": "👏"}).status_code
               for i in range(2 * limits.REACTION_BURST)]
    # The burst, plus at most what the bucket refilled during the requests.
    assert answers[:limits.REACTION_BURST] == [202] * limits.REACTION_BURST, answers
    assert answers.count(202) <= limits.REACTION_BURST + 1 and 429 in answers, answers
    assert host.post(f"/api/spaces/{space['id']}/end").status_code == 200


async def test_moderation_on_one_origin_reaches_the_media_on_the_other(cluster: Cluster) -> None:
    a, b = cluster.origins
    host = signed_in_client(a.base_url, "host")
    space = live_space(host)
    creds = stage(host, space["id"])
    speaker = WhipPublisher(creds["whip_url"], creds["token"], SyntheticTrack(sine(440)))
    await speaker.start()
    try:
        url = f"{b.base_url}/hls/{space['id']}/live.m3u8"
        assert abs((await read_tone(url, 2.0))[0] - 440) <= 5
        # The host mutes themself through origin b; origin a's mixer drops the audio.
        with as_client_of(host, b) as host_on_b:
            me = host_on_b.get("/api/me").json()["id"]
            assert host_on_b.post(f"/api/spaces/{space['id']}/mute", json={"user_id": me}).status_code == 200
        async def muted() -> bool:
            _, reader = await read_tone(url, 1.5)
            pcm = reader.decode()[0][-48000:]
            return band_level_db(pcm, 440) < -30 or float(abs(pcm).max()) < 50

        await wait_until_async(muted, "the mute to reach the mixer", 10, interval=0)
        # Ending on b stops a's media and ends the playlist everyone plays.
        with as_client_of(host, b) as host_on_b:
            assert host_on_b.post(f"/api/spaces/{space['id']}/end").status_code == 200
        await wait_until_async(lambda: httpx.get(f"{a.base_url}/healthz").json()["live_spaces"] == 0,
                               "the owner to stop the media", 10)
        assert m3u8.loads(httpx.get(url).text).is_endlist
        # Nobody takes the ended Space "over" later (a node's list of live Spaces may be
        # a few seconds old): watch both nodes for longer than that list lives.
        watch_until = time.monotonic() + LIVE_SPACES_EVERY + 1
        while time.monotonic() < watch_until:
            for origin in (a, b):
                assert httpx.get(f"{origin.base_url}/healthz").json()["live_spaces"] == 0
            await asyncio.sleep(0.25)
    finally:
        await speaker.stop()


async def test_who_is_on_stage_is_the_same_on_every_origin(cluster: Cluster) -> None:
    """A speaker publishes to the origin mixing the Space; the Space's JSON (the page's
    speaker list, "On stage") says so whichever origin answers, and stops saying so
    once they leave."""
    a, b = cluster.origins
    host = signed_in_client(a.base_url, "host")
    space = live_space(host)  # a mixes
    creds = stage(host, space["id"])
    speaker = WhipPublisher(creds["whip_url"], creds["token"], SyntheticTrack(sine(440)))

    def on_stage(origin: Server) -> bool:
        speakers = httpx.get(f"{origin.base_url}/api/spaces/{space['id']}").json()["speakers"]
        return speakers[0]["on_stage"]

    async def wait_on_stage(expected: bool) -> None:
        await wait_until_async(lambda: all(on_stage(o) is expected for o in (a, b)),
                               lambda: f"on stage {expected}: a {on_stage(a)}, b {on_stage(b)}", 10)

    await speaker.start()
    try:
        await wait_on_stage(True)
    finally:
        await speaker.stop()
    await wait_on_stage(False)
    host.post(f"/api/spaces/{space['id']}/end")


def test_nul_characters_are_a_client_error_on_postgresql(cluster: Cluster) -> None:
    """PostgreSQL refuses NUL in text (SQLite stores it): in a path or a JSON field it
    must be a clear 4xx, never a 500 (the module fixture asserts no traceback)."""
    a = cluster.origins[0]
    host = signed_in_client(a.base_url, "nul")
    assert httpx.get(f"{a.base_url}/api/users/%00").status_code in (400, 404)
    assert httpx.get(f"{a.base_url}/api/spaces/%00").status_code == 404
    created = host.post("/api/spaces", json={"title": "a\x00b"})
    assert created.status_code == 400 and "NUL" in created.json()["detail"]
    signin = httpx.post(f"{a.base_url}/api/auth/signin", json={"username": "x\x00y", "password": "whatever1"})
    assert 400 <= signin.status_code < 500
