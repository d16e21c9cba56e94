"""The Redis-backed parts of cluster mode against a real redis-server, as two nodes
would use them (two clients): store + pub/sub wakeups, leases, audience."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from townhall.testing.services import redis_server
from townhall.testing.waiting import wait_until_async
from townhall.backends.audience import MIN_BEACON_GAP
from townhall.backends.memory.audience import AudienceBook
from townhall.backends.redis.audience import RedisAudienceBook
from townhall.backends.redis.capacity import NodeRoom
from townhall.backends.redis.leases import LEASE_SECONDS, MediaLeases
from townhall.backends.redis.bus import RedisBus
from townhall.backends.redis.segments import RedisSegmentStore
from townhall.media.llhls import Position
from townhall.media.segment_store import PlaylistSnapshot


@pytest.fixture(scope="module")
def redis_url() -> str:
    with redis_server() as url:
        yield url  # type: ignore[misc]


@pytest.fixture
async def two_nodes(redis_url: str) -> AsyncIterator[tuple[redis.Redis, redis.Redis]]:
    a, b = redis.Redis.from_url(redis_url), redis.Redis.from_url(redis_url)
    await a.flushdb()
    yield a, b
    await a.aclose()
    await b.aclose()


def snapshot(msn: int, part: int, ended: bool = False) -> PlaylistSnapshot:
    return PlaylistSnapshot(f"#EXTM3U\n# {msn}.{part}\n", Position(msn, part), ended, 2)


async def test_a_blocking_reload_on_one_node_wakes_when_another_publishes(two_nodes) -> None:  # type: ignore[no-untyped-def]
    owner, other = RedisSegmentStore(two_nodes[0]), RedisSegmentStore(two_nodes[1])
    await owner.start()
    await other.start()
    try:
        await owner.put("s1", "seg0.0.m4s", b"part")
        await owner.set_playlist("s1", snapshot(0, 0))
        assert await other.get("s1", "seg0.0.m4s") == b"part"
        assert (await other.playlist("s1")) == snapshot(0, 0)
        waiting = asyncio.create_task(other.wait_for("s1", 0, 1, timeout=5))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # (0, 1) does not exist yet
        published = time.monotonic()
        await owner.set_playlist("s1", snapshot(0, 1))
        woke = await waiting
        assert woke is not None and woke.position == Position(0, 1)
        assert woke.discontinuity_sequence == 2
        assert time.monotonic() - published < 0.2
        assert await other.wait_for("s1", 5, 0, timeout=0.2) is None  # times out: None
        await owner.delete("s1", ["seg0.0.m4s"])
        assert await other.get("s1", "seg0.0.m4s") is None
    finally:
        await owner.close()
        await other.close()


async def test_leases_have_one_holder_and_lapse(two_nodes) -> None:  # type: ignore[no-untyped-def]
    a, b = MediaLeases(two_nodes[0], "http://a"), MediaLeases(two_nodes[1], "http://b")
    assert await a.acquire("s1")
    assert not await b.acquire("s1")
    assert await b.owner("s1") == "http://a"
    assert await b.owners(["s1", "s2"]) == {"s1": "http://a", "s2": None}
    assert await a.renew("s1") and not await b.renew("s1")
    await b.release("s1")  # not b's to release
    assert await a.owner("s1") == "http://a"
    await two_nodes[0].pexpire("townhall:lease:s1", 50)  # a stops renewing (dies)
    await wait_until_async(lambda: b.acquire("s1"), "b to take the lease a let lapse",
                           LEASE_SECONDS, interval=0.01)
    assert await a.owner("s1") == "http://b" and not await a.renew("s1")
    # A lease that vanished (Redis restarted empty) is taken again by its holder.
    await two_nodes[0].delete("townhall:lease:s1")
    assert not await b.renew("s1") and await b.acquire("s1")


async def test_a_full_node_finds_the_node_with_most_room_and_never_a_dead_one(two_nodes) -> None:  # type: ignore[no-untyped-def]
    a, b, c = (NodeRoom(two_nodes[i % 2], f"http://{name}") for i, name in enumerate("abc"))
    assert await a.with_room(0.05) is None  # nobody else has reported
    await a.report(0.0)
    await b.report(0.05)
    await c.report(0.30)
    assert await a.with_room(0.05) == "http://c"  # the most room
    assert await c.with_room(0.05) == "http://b"  # never itself
    assert await c.with_room(0.06) is None  # b has too little
    await two_nodes[0].pexpire("townhall:room:http://c", 50)  # c stops reporting (dies)

    async def c_passed_over() -> bool:
        return await a.with_room(0.05) == "http://b"

    await wait_until_async(c_passed_over, "c's report to lapse", LEASE_SECONDS, interval=0.01)
    assert await two_nodes[0].smembers("townhall:nodes") == {b"http://a", b"http://b"}
    await c.report(0.30)  # back: chosen again
    assert await a.with_room(0.05) == "http://c"


@pytest.mark.parametrize("book_kind", ["memory", "redis"])
async def test_both_audience_books_give_the_same_figures(two_nodes, book_kind: str) -> None:  # type: ignore[no-untyped-def]
    books = ([AudienceBook()] * 2 if book_kind == "memory"
             else [RedisAudienceBook(two_nodes[0]), RedisAudienceBook(two_nodes[1])])
    now = 1_000_000.0
    assert await books[0].beat("s1", "p1", now)
    assert await books[1].beat("s1", "p2", now + 1)
    assert not await books[1].beat("s1", "p1", now + MIN_BEACON_GAP / 2)  # too soon
    assert await books[1].beat("s1", "p1", now + 70)  # same player, a minute later
    await books[0].sample("s1", now + 70)
    figures = await books[1].summary("s1", now + 70)
    # p2's last beacon (at +1) left the 25 s window; p1 is still there.
    assert (figures["concurrent"], figures["peak"], figures["unique"]) == (1, 2, 2)
    assert figures["joins_per_minute"] == [[int(now // 60 * 60), 2]]
    assert figures["samples"] == [[now + 70, 1]]
    assert await books[0].headline("s1", now + 70) == (1, 2, 2)
    final = await books[0].finish("s1", now + 80)
    assert (final["peak"], final["unique"]) == (2, 2)


async def test_events_reach_subscribers_on_every_node(two_nodes) -> None:  # type: ignore[no-untyped-def]
    a, b = RedisBus(two_nodes[0]), RedisBus(two_nodes[1])
    await a.start()
    await b.start()
    controls: list[tuple[str, dict]] = []
    b.on_control = lambda space, message: controls.append((space, message))
    try:
        queue = b.subscribe("s1")
        a.publish("s1", {"type": "reaction", "emoji": "👏"})
        assert await asyncio.wait_for(queue.get(), 2) == {"type": "reaction", "emoji": "👏"}
        a.publish("s1", {"type": "audience", "listeners": 7, "peak": 7, "unique": 9})
        await asyncio.wait_for(queue.get(), 2)
        assert b.audience_now["s1"] == 7
        a.send_control("s1", {"type": "record"})
        a.close_space("s1")
        assert await asyncio.wait_for(queue.get(), 2) is None  # the stream ends everywhere
        assert controls == [("s1", {"type": "record"})]
    finally:
        await a.close()
        await b.close()


def test_every_room_event_survives_the_trip_to_the_media_owner() -> None:
    """Media commands carry room events as JSON between nodes; each kind comes back
    equal (a kind missing from the rebuild table used to be dropped with an error)."""
    import json
    from typing import get_args

    from townhall.domain.events import Event, event_from_json, event_json

    examples = {cls.__name__: cls(*(1 if f.type == "int" else True if f.type == "bool" else "live"
                                    for f in dataclasses.fields(cls)))
                for cls in get_args(Event)}
    for event in examples.values():
        assert event_from_json(json.loads(json.dumps(event_json(event)))) == event


@pytest.mark.parametrize("book_kind", ["memory", "redis"])
async def test_both_audience_books_know_who_is_listening(two_nodes, book_kind: str) -> None:  # type: ignore[no-untyped-def]
    books = ([AudienceBook()] * 2 if book_kind == "memory"
             else [RedisAudienceBook(two_nodes[0]), RedisAudienceBook(two_nodes[1])])
    now = 2_000_000.0
    assert await books[0].listening("s2", now, 10) == ([], 0)  # nobody yet
    await books[0].beat("s2", "p1", now, user_id=11)
    await books[1].beat("s2", "p2", now + 1, user_id=12)
    await books[0].beat("s2", "p3", now + 2, user_id=13)
    await books[1].beat("s2", "anon1", now + 3)
    await books[0].beat("s2", "anon2", now + 4)
    # The latest first, on either node; anonymous players counted, not named.
    assert await books[1].listening("s2", now + 5, 10) == ([13, 12, 11], 2)
    # The cap, and people left out still leave the cap filled from the rest.
    assert await books[0].listening("s2", now + 5, 2) == ([13, 12], 2)
    assert await books[0].listening("s2", now + 5, 2, frozenset({13})) == ([12, 11], 2)
    # Two tabs of one person: listed once.
    await books[1].beat("s2", "p1-second-tab", now + 6, user_id=11)
    assert await books[0].listening("s2", now + 7, 10) == ([11, 13, 12], 2)
    # Quiet for the concurrent window: gone from the roster, like from the count.
    await books[0].beat("s2", "p3", now + 40, user_id=13)
    assert await books[1].listening("s2", now + 41, 10) == ([13], 0)
    await books[0].finish("s2", now + 50)
    assert await books[1].listening("s2", now + 51, 10) == ([], 0)
