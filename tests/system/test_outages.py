"""Backends going away while a Space is live (issue "Hardening, round two"): Redis stops
for 10 s and comes back empty, PostgreSQL restarts. Real Redis, PostgreSQL and two
`townhall serve` origins on loopback; a speaker (aiortc, 440 Hz) on the origin mixing
the Space and a listener following its live HLS there.

What must hold: the live audio never stops (the listener's largest wait between parts
stays under a second, and the tone is heard); the recording misses nothing (segment
numbers without a gap, no discontinuity); requests that need the missing backend get a
clear 503 with Retry-After, never a 500; the mixing origin keeps its Space when Redis
comes back (no takeover by the other origin); figures and the API work again after."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import m3u8
import pytest

from townhall.testing.audio import dominant_frequency
from townhall.testing.servers import (MANY_SIGNUPS, Server, largest_gap_since,
                                      listening_throughout, live_space,
                                      signed_in_client, stage, start_server, stop_server)
from townhall.testing.services import PostgresService, RedisService, postgres_service, redis_service
from townhall.testing.waiting import wait_until, wait_until_async
from townhall.tools.clients.hls import decode_fmp4
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher, sine

OUTAGE_SECONDS = 10.0
# A low-latency player holds ~0.77 s: a longer wait between parts is a stall.
STALL_GAP = 1.0


@dataclass
class Rig:
    redis: RedisService
    postgres: PostgresService
    origins: list[Server]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with redis_service() as redis, postgres_service() as postgres:
        env = {**MANY_SIGNUPS, "TOWNHALL_REDIS_URL": redis.url,
               "TOWNHALL_DATABASE_URL": postgres.url,
               "TOWNHALL_RECORDINGS_DIR": str(tmp_path / "recordings")}
        origins: list[Server] = []
        try:
            for name in ("a", "b"):
                (tmp_path / name).mkdir()
                origins.append(start_server(tmp_path / name, command="serve", extra_env=env))
            yield Rig(redis, postgres, origins)
        finally:
            for origin in origins:
                stop_server(origin)
        for origin in origins:
            assert "Traceback" not in origin.log(), origin.log()[-5000:]


def live_spaces(origin: Server) -> int:
    return int(httpx.get(f"{origin.base_url}/healthz", timeout=5).json()["live_spaces"])


async def hear(reader, seconds: float) -> None:  # type: ignore[no-untyped-def]
    """Wait until the background listener has fetched parts for `seconds` more."""
    until = time.time() + seconds
    await wait_until_async(lambda: bool(reader.parts) and reader.parts[-1].fetched_at >= until,
                           timeout=seconds + 15, interval=0.1, what="the listener to hear on")


def replay_without_gaps(space: dict) -> tuple[m3u8.M3U8, bytes]:
    """The replay: every segment number from the first to the last, one timeline; and
    its audio, decodable end to end."""
    url = space["replay_url"]
    playlist = m3u8.loads(httpx.get(url).text, uri=url)
    numbers = [int(Path(s.uri).stem.removeprefix("seg")) for s in playlist.segments]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), numbers
    assert not any(s.discontinuity for s in playlist.segments)
    base = url.rsplit("/", 1)[0]
    audio = httpx.get(f"{base}/{playlist.segment_map[0].uri}").content + b"".join(
        httpx.get(f"{base}/{s.uri}").content for s in playlist.segments)
    return playlist, audio


async def test_redis_stops_for_ten_seconds_and_comes_back_empty(rig: Rig) -> None:
    a, b = rig.origins
    host = signed_in_client(a.base_url, "redisdown")
    space = live_space(host, "Redis goes away")  # goes live on a: a mixes it
    creds = stage(host, space["id"])
    speaker = WhipPublisher(creds["whip_url"], creds["token"], SyntheticTrack(sine(440)))
    await speaker.start()
    beacon_url = f"{a.base_url}/api/spaces/{space['id']}/beacon"
    try:
        async with listening_throughout(space["hls_url"]) as reader:
            await hear(reader, 2.0)
            await asyncio.to_thread(rig.redis.stop)
            stopped = time.time()
            # Requests that need Redis get a clear 503 meanwhile (not a 500).
            beacon = await asyncio.to_thread(httpx.post, beacon_url,
                                             json={"session": "listener-during-the-outage"})
            assert beacon.status_code == 503, beacon.text
            assert beacon.json()["code"] == "backend_unavailable"
            assert int(beacon.headers["retry-after"]) >= 1
            await hear(reader, OUTAGE_SECONDS - (time.time() - stopped))
            heard_during = len([p for p in reader.parts if p.fetched_at > stopped])
            await asyncio.to_thread(rig.redis.start)  # empty: it keeps nothing on disk
            await hear(reader, 4.0)  # longer than a lease: a takeover would have happened
            assert await asyncio.to_thread(live_spaces, a) == 1
            assert await asyncio.to_thread(live_spaces, b) == 0
        assert heard_during >= OUTAGE_SECONDS / 0.5, heard_during
        assert largest_gap_since(reader, stopped - 1) < STALL_GAP
        pcm, _ = reader.decode()
        assert abs(dominant_frequency(pcm[-48000 * 2:]) - 440) < 5

        # Back: the other origin serves the stream again, and figures are counted.
        on_b = space["hls_url"].replace(a.base_url, b.base_url)
        wait_until(lambda: httpx.get(on_b, timeout=10).status_code == 200, timeout=10,
                   what="origin b to serve the playlist again")
        counted = httpx.post(f"{b.base_url}/api/spaces/{space['id']}/beacon",
                             json={"session": "listener-after-the-outage"})
        assert counted.status_code == 204, counted.text
    finally:
        await speaker.stop()
    ended = host.post(f"/api/spaces/{space['id']}/end")
    assert ended.status_code == 200, ended.text
    # Nothing lost from the recording: every segment, one timeline, the whole time.
    playlist, audio = replay_without_gaps(ended.json())
    assert sum(s.duration for s in playlist.segments) >= OUTAGE_SECONDS + 4.0
    pcm, _ = decode_fmp4(audio)
    assert abs(dominant_frequency(pcm) - 440) < 5


async def test_postgresql_restarts_while_a_space_is_live(rig: Rig) -> None:
    a, _ = rig.origins
    host = signed_in_client(a.base_url, "pgdown")
    space = live_space(host, "The database restarts")
    creds = stage(host, space["id"])
    speaker = WhipPublisher(creds["whip_url"], creds["token"], SyntheticTrack(sine(440)))
    await speaker.start()
    try:
        async with listening_throughout(space["hls_url"]) as reader:
            await hear(reader, 2.0)
            await asyncio.to_thread(rig.postgres.stop)
            stopped = time.time()
            answer = await asyncio.to_thread(host.get, f"/api/spaces/{space['id']}")
            assert answer.status_code == 503, answer.text
            assert answer.json()["code"] == "backend_unavailable"
            assert "try again" in answer.json()["detail"]
            await hear(reader, 3.0)  # the audio goes on meanwhile
            await asyncio.to_thread(rig.postgres.start)
            await wait_until_async(
                lambda: host.get(f"/api/spaces/{space['id']}").status_code == 200,
                timeout=20, what="the API to answer again after the restart")
            await hear(reader, 2.0)
        assert largest_gap_since(reader, stopped - 1) < STALL_GAP
        pcm, _ = reader.decode()
        assert abs(dominant_frequency(pcm[-48000 * 2:]) - 440) < 5
    finally:
        await speaker.stop()
    ended = host.post(f"/api/spaces/{space['id']}/end")
    assert ended.status_code == 200, ended.text
    replay_without_gaps(ended.json())
