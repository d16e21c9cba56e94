"""The fan-out of a host with many followers: going live only queues a job (the answer
never waits for the rows), and the worker then gives every follower exactly one
notification, in bounded batches."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from sqlalchemy import func, insert, select

from townhall.app.locks import SpaceLocks
from townhall.app.notifier import Notifier
from townhall.app.presenters import LiveFacts
from townhall.app.spaces import SpaceCommands
from townhall.backends.bus import EventBus
from townhall.store.db import Database
from townhall.store.models import Follow, Notification, Space, User
from townhall.testing.servers import signed_in_client, start_server, stop_server
from townhall.testing.waiting import wait_until, wait_until_async

FOLLOWERS = 2_000


def add_followers(db: Database, host_id: int, count: int) -> None:
    with db.session() as s:
        first = (s.scalar(select(func.max(User.id))) or 0) + 1
        s.execute(insert(User), [{"id": first + i, "username": f"follower{first + i}",
                                  "password_hash": "x", "display_name": "", "bio": ""}
                                 for i in range(count)])
        s.execute(insert(Follow), [{"follower_id": first + i, "followee_id": host_id}
                                   for i in range(count)])


def per_follower(db: Database, space_id: str) -> dict[int, int]:
    with db.session() as s:
        return dict(s.execute(select(Notification.user_id, func.count())  # type: ignore[arg-type]
                              .where(Notification.space_id == space_id)
                              .group_by(Notification.user_id)).all())


async def test_going_live_only_queues_the_fan_out(tmp_path: Path) -> None:
    """In process: with the worker not yet running, go-live answers, and no follower has
    a notification (it cannot have waited for them); started, the worker writes each
    follower exactly one, in batches of the named size."""
    db = Database(f"sqlite:///{tmp_path / 'fanout.db'}")
    with db.session() as s:
        host = User(username="bighost", password_hash="x")
        s.add(host)
        s.flush()
        host_id = host.id
        s.add(Space(id="bigspace", title="Big news", host_id=host_id))
    add_followers(db, host_id, FOLLOWERS)
    notifier = Notifier(db, batch=300)

    async def no_media(space_id: str, events: object) -> None:
        return None

    commands = SpaceCommands(db, EventBus(), SpaceLocks(), lambda _: LiveFacts(), no_media,
                             notifier.after_decision)
    outcome = await commands.act("bigspace", host_id, lambda room: room.go_live(host_id),
                                 "http://test")
    assert outcome.room.state == "live"
    assert notifier.jobs.waiting() == 1 and per_follower(db, "bigspace") == {}
    notifier.start()
    try:
        await wait_until_async(lambda: notifier.jobs.waiting() == 0
                               and len(per_follower(db, "bigspace")) == FOLLOWERS,
                               "every follower notified", timeout=60)
        await asyncio.wait_for(notifier.idle(), 30)
        counts = per_follower(db, "bigspace")
        assert len(counts) == FOLLOWERS and set(counts.values()) == {1}
        assert host_id not in counts
    finally:
        await notifier.close()
        db.close()


def test_a_server_notifies_every_follower_once(tmp_path: Path) -> None:
    """Against a running server whose host has 2,000 followers (written straight into
    its database): go-live answers, and eventually each follower has one notification;
    the log says how the batches went."""
    server = start_server(tmp_path, command="serve")
    db = Database(f"sqlite:///{server.data_dir / 'townhall.db'}")
    try:
        host = signed_in_client(server.base_url, "fanhost")
        host_id = host.get("/api/me").json()["id"]
        add_followers(db, host_id, FOLLOWERS)
        name = host.get("/api/me").json()["username"]
        assert host.get(f"/api/users/{name}").json()["followers"] == FOLLOWERS
        space = host.post("/api/spaces", json={"title": "Everyone's here"}).json()
        live = host.post(f"/api/spaces/{space['id']}/live")
        assert live.status_code == 200, live.text
        wait_until(lambda: len(per_follower(db, space["id"])) == FOLLOWERS,
                   "every follower notified", timeout=60)
        assert set(per_follower(db, space["id"]).values()) == {1}
        wait_until(lambda: f"notified {FOLLOWERS} people" in server.log(),
                   "the worker's log line", timeout=10)
        one = signed_in_client(server.base_url, "late")  # signs in as a new account
        assert one.get("/api/me/notifications").json()["unread"] == 0
        one.close()
        host.close()
        assert httpx.get(f"{server.base_url}/healthz").status_code == 200
    finally:
        db.close()
        stop_server(server)
    assert "Traceback" not in server.log(), server.log()[-3000:]
