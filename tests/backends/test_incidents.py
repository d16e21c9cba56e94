"""The incident timeline's books: one node's and the cluster's (a real redis-server) add
up the tallies of every origin the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as redis

from townhall.backends.memory.incidents import IncidentBook
from townhall.backends.redis.incidents import RedisIncidentBook
from townhall.domain.incidents import Tally
from townhall.testing.services import redis_server


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(params=["memory", "redis"])
async def book(request: pytest.FixtureRequest) -> AsyncIterator[object]:
    if request.param == "memory":
        yield IncidentBook()
        return
    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    await client.flushdb()
    yield RedisIncidentBook(client)
    await client.aclose()


def origin_tally(start: float, networks: range, refused: int = 0) -> Tally:
    tally = Tally(start=start)
    for n in networks:
        tally.request(f"10.0.{n}.0/24", 200, join_attempt=True, join_success=True,
                      answer_seconds=0.01 * n)
    for _ in range(refused):
        tally.request("192.0.2.0/24", 429, refused="reactions")
    tally.first_audio(1.25)
    tally.mixer_ticks, tally.mixer_late = 3000, 30
    tally.cpu_seconds, tally.cpu_wall = 6.0, 60.0
    return tally


async def test_origins_add_up_per_bucket(book) -> None:  # type: ignore[no-untyped-def]
    await book.add("s1", origin_tally(60.0, range(0, 20)))
    await book.add("s1", origin_tally(60.0, range(10, 30), refused=5))  # another origin
    await book.add("s1", origin_tally(0.0, range(0, 3)))  # late, older bucket
    await book.add("s2", origin_tally(60.0, range(0, 1)))
    first, second = await book.tallies("s1")
    assert (first.start, second.start) == (0.0, 60.0)
    figures = second.figures(60.0)
    assert figures.requests == 45 and figures.networks == 31  # 30 + the refused /24
    assert figures.statuses["2xx"] == 40 and figures.refused == {"reactions": 5}
    assert figures.join_attempts == 40 and figures.ttfa_p50 == 1.25
    assert figures.mixer_late_share == pytest.approx(0.01)
    assert figures.cpu == pytest.approx(0.2)  # two origins side by side: 12 s over 60
    top = sorted([2] * 10 + [1] * 20 + [5], reverse=True)[:10]  # 10.0.10-19 seen twice
    assert figures.top_share == pytest.approx(sum(top) / 45)
    finished = await book.finish("s1")
    assert [t.start for t in finished] == [0.0, 60.0]
    assert await book.tallies("s1") == [] and len(await book.tallies("s2")) == 1
