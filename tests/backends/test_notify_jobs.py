"""Notification fan-out in a cluster (townhall/backends/redis/jobs.py) against a real
redis-server: two origins share the job stream and the database; a go-live queued on
one is done once, by one of them; an origin that dies mid-job (after writing a batch it
had not yet recorded) leaves the job to the other, which goes on from the recorded
batch and skips whoever already has it: every follower ends with exactly one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis

from townhall.app.notifier import LIVE, Job, Notifier
from townhall.backends.redis.jobs import RedisJobQueue
from townhall.store.db import Database
from townhall.store.models import Space, User
from townhall.testing.services import redis_server
from townhall.testing.waiting import wait_until_async
from tests.http.test_notify_fanout import add_followers, per_follower

FOLLOWERS = 2_500
BATCH = 500


@pytest.fixture(scope="module")
def redis_url() -> str:
    with redis_server() as url:
        yield url  # type: ignore[misc]


@pytest.fixture
async def clients(redis_url: str) -> AsyncIterator[tuple[redis.Redis, redis.Redis]]:
    a, b = redis.Redis.from_url(redis_url), redis.Redis.from_url(redis_url)
    await a.flushdb()
    yield a, b
    await a.aclose()
    await b.aclose()


def database(tmp_path: Path) -> tuple[str, int]:
    """A database with a host, their Space and FOLLOWERS followers: its URL, the host."""
    url = f"sqlite:///{tmp_path / 'cluster.db'}"
    db = Database(url)
    with db.session() as s:
        host = User(username="clusterhost", password_hash="x")
        s.add(host)
        s.flush()
        host_id = host.id
        s.add(Space(id="shared", title="Both origins", host_id=host_id, state="live"))
    add_followers(db, host_id, FOLLOWERS)
    db.close()
    return url, host_id


class DiesAfter(RedisJobQueue):
    """An origin that dies right after writing its `batches`-th batch, before recording
    it (as a SIGKILL would leave it: the job taken, not acknowledged)."""

    def __init__(self, client: redis.Redis, consumer: str, batches: int) -> None:
        super().__init__(client, consumer)
        self.left = batches
        self.died = asyncio.Event()

    async def progress(self, job_id: str, cursor: int) -> None:
        if cursor > 0:  # 0: the reminders step, before any follower batch
            self.left -= 1
            if self.left == 0:
                self.died.set()
                raise asyncio.CancelledError  # the worker ends; nothing acknowledged
        await super().progress(job_id, cursor)


async def test_a_job_queued_on_one_origin_is_done_once(clients, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, host_id = database(tmp_path)
    origins = []
    for client, name in zip(clients, ("origin-a", "origin-b"), strict=True):
        jobs = RedisJobQueue(client, name)
        origins.append(Notifier(Database(url), batch=BATCH, jobs=jobs))
    for notifier in origins:
        await notifier.jobs.start()
        notifier.start()
    try:
        origins[0].enqueue(Job(LIVE, "shared", host_id))
        db = Database(url)
        await wait_until_async(lambda: len(per_follower(db, "shared")) == FOLLOWERS,
                               "every follower notified", timeout=60)
        await wait_until_async(lambda: sum(o.written for o in origins) == FOLLOWERS,
                               "the worker finished", timeout=30)
        assert set(per_follower(db, "shared").values()) == {1}
        # One origin did it all (a job is never split between two that are alive).
        assert sorted(o.written for o in origins) == [0, FOLLOWERS]
        assert await clients[0].xlen("townhall:jobs:notify") == 0  # acknowledged, deleted
        db.close()
    finally:
        for notifier in origins:
            await notifier.close()
            await notifier.jobs.close()
            notifier.db.close()


async def test_a_job_left_by_a_dead_origin_is_finished_by_another_exactly_once(
        clients, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, host_id = database(tmp_path)
    dying = DiesAfter(clients[0], "origin-a", batches=3)
    a = Notifier(Database(url), batch=BATCH, jobs=dying)
    await dying.start()
    a.start()
    db = Database(url)
    b = None
    try:
        a.enqueue(Job(LIVE, "shared", host_id))
        await asyncio.wait_for(dying.died.wait(), 60)
        # Three batches written, two recorded: the third is in the database unrecorded.
        assert len(per_follower(db, "shared")) == 3 * BATCH
        survivor = RedisJobQueue(clients[1], "origin-b", claim_idle=0.5)
        b = Notifier(Database(url), batch=BATCH, jobs=survivor)
        await survivor.start()
        b.start()
        await wait_until_async(lambda: len(per_follower(db, "shared")) == FOLLOWERS,
                               "the other origin finished the job", timeout=60)
        await wait_until_async(lambda: b.written == FOLLOWERS - 3 * BATCH,
                               "the survivor's count", timeout=30)
        counts = per_follower(db, "shared")
        assert set(counts.values()) == {1}, "someone was notified twice"
        await wait_until_async(lambda: survivor_done(clients[1]), "job acknowledged", timeout=10)
    finally:
        await a.close()
        await dying.close()
        if b is not None:
            await b.close()
            await b.jobs.close()
            b.db.close()
        a.db.close()
        db.close()


def survivor_done(client: redis.Redis):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return await client.xlen("townhall:jobs:notify") == 0
    return check()


async def test_jobs_are_taken_again_after_redis_comes_back_empty(
        clients: tuple[redis.Redis, redis.Redis]) -> None:
    """Redis restarted without its data (FLUSHALL stands in: the stream and its consumer
    group are gone): the queue makes its group again and takes the next job. It used to
    answer NOGROUP to itself every RETRY_DELAY for ever: no notification went out again."""
    client, _ = clients
    jobs = RedisJobQueue(client, "origin-a")
    await jobs.start()
    try:
        jobs.put({"kind": "first"})
        first = await asyncio.wait_for(jobs.take(), timeout=10)
        await jobs.done(first.id)
        await client.flushall()
        jobs.put({"kind": "after the restart"})
        second = await asyncio.wait_for(jobs.take(), timeout=10)
        assert second.job == {"kind": "after the restart"}
    finally:
        await jobs.close()
