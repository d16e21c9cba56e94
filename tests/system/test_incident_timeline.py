"""The incident timeline tells overload from attack (issue #13), on loopback with many
source addresses in 127.0.0.0/8: a benign join storm from 2,000 addresses (2,000 /24s),
then a flood of reactions from 4 addresses that the rate limits refuse, then the origin
starved of CPU (its threads pinned to one CPU shared with busy processes) while a few
hundred listeners join. Buckets are 8 s (TOWNHALL_TIMELINE_BUCKET_SECONDS) and each
phase starts on a bucket boundary, so each bucket holds one phase only. Every load loop
is bounded in count and time."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from townhall.testing.servers import Server, start_server, stop_server
from townhall.testing.waiting import wait_until

BUCKET = 8.0
STORM_ADDRESSES = 2_000
STORM_AT_ONCE = 100
FLOOD_ADDRESSES = [f"127.250.{i}.9" for i in range(4)]
FLOOD_SECONDS = 4.0
FLOOD_MAX_REQUESTS = 2_000  # per address
STARVED_JOINS = 300
HOGS = 12
HOG_START_TIMEOUT = 30.0  # seconds for the busy processes to start (spawned Pythons)
PHASE_BUDGET = 7.0  # seconds a phase may take (it must end inside its bucket)
JOIN_TIMEOUT = 4.0

if not hasattr(os, "sched_setaffinity"):  # never a silent skip: the suite runs on Linux
    pytest.fail("the CPU-starvation phase needs Linux CPU affinity", pytrace=False)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("timeline"), "demo",
                           {"TOWNHALL_TIMELINE_BUCKET_SECONDS": str(BUCKET)})
    try:
        yield running
    finally:
        stop_server(running)


def storm_address(i: int) -> str:
    """The i-th storm client: each in its own /24 (127.10.0.1, 127.10.1.1, ...)."""
    return f"127.{10 + i // 250}.{i % 250}.1"


def next_bucket() -> float:
    """Wait for the next bucket to begin (a clock boundary, not a synchronisation)."""
    start = (time.time() // BUCKET + 1) * BUCKET
    time.sleep(max(0.0, start - time.time()) + 0.05)
    return start


async def join(port: int, address: str, deadline: float) -> bool:
    """A listener joining: the playlist, then the init segment, on a new connection
    from `address`. True if both answered 200 before the timeout."""
    request = ("GET /hls/demo/live.m3u8 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
               "GET /hls/demo/init.mp4 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    try:
        async with asyncio.timeout(max(0.1, min(JOIN_TIMEOUT, deadline - time.monotonic()))):
            reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                           local_addr=(address, 0))
            try:
                writer.write(request.encode())
                answer = await reader.read()  # until the server closes
            finally:
                writer.close()
    except (OSError, TimeoutError):
        return False
    return answer.count(b"HTTP/1.1 200") == 2


async def storm(port: int, addresses: list[str], budget: float) -> int:
    deadline = time.monotonic() + budget
    slots = asyncio.Semaphore(STORM_AT_ONCE)

    async def one(address: str) -> bool:
        async with slots:
            return time.monotonic() < deadline and await join(port, address, deadline)

    return sum(await asyncio.gather(*(one(a) for a in addresses)))


async def flood(base_url: str) -> tuple[int, int]:
    """Reactions as fast as 4 clients can send them, for FLOOD_SECONDS: (sent, refused)."""
    deadline = time.monotonic() + FLOOD_SECONDS

    async def one(address: str) -> tuple[int, int]:
        sent = refused = 0
        transport = httpx.AsyncHTTPTransport(local_address=address)
        async with httpx.AsyncClient(base_url=base_url, transport=transport, timeout=5) as c:
            while time.monotonic() < deadline and sent < FLOOD_MAX_REQUESTS:
                r = await c.post("/api/spaces/demo/reactions", json={"emoji": "👏"})
                sent += 1
                refused += r.status_code == 429
        return sent, refused

    results = await asyncio.gather(*(one(a) for a in FLOOD_ADDRESSES))
    return sum(s for s, _ in results), sum(r for _, r in results)


def _hog(ready, seconds: float) -> None:  # type: ignore[no-untyped-def]
    """Spin on CPU 0 for `seconds`, saying when it has begun (so the phase starts only
    once every hog is running: starting a dozen processes takes a while on a busy CI
    machine)."""
    os.sched_setaffinity(0, {0})
    ready.put(os.getpid())
    until = time.time() + seconds
    while time.time() < until:
        pass


def pin_to_cpu0(pid: int) -> None:
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), {0})
        except OSError:  # a thread that just ended
            pass


def verdicts(server: Server) -> dict[float, dict]:
    timeline = httpx.get(f"{server.base_url}/api/spaces/demo/timeline", timeout=10).json()
    return {m["start"]: m for m in timeline["minutes"]}


def wait_flushed(server: Server, start: float) -> dict[float, dict]:
    """The timeline once the bucket beginning at `start` is over and handed in (the
    collector flushes every second): polled until the next bucket has figures too."""
    def ready() -> dict[float, dict] | None:
        minutes = verdicts(server)
        closed = start in minutes and time.time() > start + BUCKET + 1.2
        return minutes if closed else None

    return wait_until(ready, f"the bucket at {start} handed in", timeout=BUCKET + 10,
                      interval=0.25)


def audience(server: Server) -> tuple[int, int]:
    figures = httpx.get(f"{server.base_url}/api/spaces/demo/audience", timeout=10).json()
    return figures["unique"], figures["peak"]


def test_storm_flood_and_starvation_are_told_apart(server: Server) -> None:
    port = int(server.base_url.rsplit(":", 1)[1])
    # A few players report their time to first audio (the web player's first beacon).
    for i in range(5):
        transport = httpx.HTTPTransport(local_address=f"127.9.{i}.1")
        with httpx.Client(base_url=server.base_url, transport=transport) as player:
            r = player.post("/api/spaces/demo/beacon",
                            json={"session": secrets.token_urlsafe(16), "first_audio_ms": 900})
            assert r.status_code == 204, r.text

    # 1. A benign join storm: 2,000 addresses, each its own /24.
    storm_start = next_bucket()
    joined = asyncio.run(storm(port, [storm_address(i) for i in range(STORM_ADDRESSES)],
                               PHASE_BUDGET))
    storm_minute = wait_flushed(server, storm_start)[storm_start]
    print("storm:", joined, "joined;", storm_minute["verdict"], storm_minute["reason"])
    assert joined > STORM_ADDRESSES / 2
    assert storm_minute["verdict"] in ("healthy", "overloaded"), storm_minute
    assert storm_minute["networks"] >= joined and storm_minute["top_share"] < 0.05

    # 2. A flood from 4 addresses, refused by the reactions limit.
    before = audience(server)
    flood_start = next_bucket()
    sent, refused = asyncio.run(flood(server.base_url))
    flood_minute = wait_flushed(server, flood_start)[flood_start]
    print("flood:", sent, "sent,", refused, "refused;", flood_minute["verdict"],
          flood_minute["reason"])
    assert refused > sent / 2
    assert (flood_minute["verdict"], flood_minute["rule"]) == ("under_attack", "mostly_refused")
    assert flood_minute["refused"]["reactions"] >= refused * 0.9
    # the flood's 4 networks, and 127.0.0.0/24: this test reading the timeline
    assert flood_minute["networks"] <= len(FLOOD_ADDRESSES) + 1
    assert audience(server) == before  # the flood added no listener

    # 3. The origin starved of CPU while a few hundred listeners join: every hog is
    # running on CPU 0, and the origin pinned there, before the phase's bucket begins.
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    hogs = [context.Process(target=_hog, args=(ready, BUCKET + PHASE_BUDGET + HOG_START_TIMEOUT))
            for _ in range(HOGS)]
    for hog in hogs:
        hog.start()
    try:
        for _ in hogs:
            ready.get(timeout=HOG_START_TIMEOUT)
        pin_to_cpu0(server.process.pid)
        starve_start = next_bucket()
        asyncio.run(storm(port, [f"127.200.{i % 250}.{1 + i // 250}"
                                 for i in range(STARVED_JOINS)], PHASE_BUDGET - 1.5))
    finally:
        for hog in hogs:
            hog.kill()
            hog.join(timeout=PHASE_BUDGET)
        for tid in os.listdir(f"/proc/{server.process.pid}/task"):
            try:
                os.sched_setaffinity(int(tid), os.sched_getaffinity(0))
            except OSError:
                pass
    starved_minute = wait_flushed(server, starve_start)[starve_start]
    print("starved:", starved_minute["verdict"], starved_minute["reason"])
    assert (starved_minute["verdict"], starved_minute["rule"]) == ("overloaded", "capacity")

    # The status page names them too (rules written out).
    page = httpx.get(f"{server.base_url}/s/demo/status", headers={"accept": "text/html"})
    assert page.status_code == 200 and 'id="rule-mostly_refused"' in page.text
