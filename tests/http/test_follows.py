"""Follows and in-app notifications over HTTP: following and unfollowing (with counts,
lists, and what the profile says the viewer may do), refusals in words (yourself, a
missing user, twice, blocked), the per-account rate limit, and the notifications for
a followed host going live or scheduling, a reminded Space starting and an invitation
to speak; read and unread. The fan-out of a host with many followers is in
tests/http/test_notify_fanout.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from townhall import limits
from townhall.testing.servers import Server, signed_in_client, start_server, stop_server
from townhall.testing.waiting import wait_until

WAIT = 10.0  # seconds for the background worker to write a notification


@pytest.fixture
def people(server: Server) -> Iterator[tuple[httpx.Client, httpx.Client, httpx.Client]]:
    clients = [signed_in_client(server.base_url, p) for p in ("fhost", "fan", "other")]
    yield clients[0], clients[1], clients[2]
    for c in clients:
        c.close()


def me(client: httpx.Client) -> dict:
    return client.get("/api/me").json()


def notifications(client: httpx.Client, **params: object) -> dict:
    response = client.get("/api/me/notifications", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_texts(client: httpx.Client, count: int) -> list[str]:
    wait_until(lambda: len(notifications(client)["notifications"]) >= count,
               f"{count} notifications", timeout=WAIT)
    return [n["text"] for n in notifications(client)["notifications"]]


def test_follow_unfollow_counts_lists_and_can(people) -> None:  # type: ignore[no-untyped-def]
    host, fan, other = people
    name = me(host)["username"]
    assert fan.get(f"/api/users/{name}").json()["can"] == ["follow"]
    followed = fan.post(f"/api/users/{name}/follow")
    assert followed.status_code == 200, followed.text
    assert followed.json() == {"followers": 1, "following": 0, "can": ["unfollow"]}
    assert other.post(f"/api/users/{name}/follow").json()["followers"] == 2
    profile = fan.get(f"/api/users/{name}").json()
    assert (profile["followers"], profile["following"], profile["can"]) == (2, 0, ["unfollow"])
    assert host.get(f"/api/users/{name}").json()["can"] == ["edit"]
    assert httpx.get(f"{host.base_url}/api/users/{name}").json()["can"] == []
    fan_name = me(fan)["username"]
    assert fan.get(f"/api/users/{fan_name}").json()["following"] == 1

    listed = fan.get(f"/api/users/{name}/followers").json()
    assert [p["username"] for p in listed["people"]] == [fan_name, me(other)["username"]]
    assert listed["next"] is None
    page = fan.get(f"/api/users/{name}/followers", params={"limit": 1}).json()
    assert [p["username"] for p in page["people"]] == [fan_name] and page["next"]
    rest = fan.get(f"/api/users/{name}/followers", params={"limit": 1, "after": page["next"]})
    assert [p["username"] for p in rest.json()["people"]] == [me(other)["username"]]
    assert [p["username"] for p in fan.get(f"/api/users/{fan_name}/following").json()[
        "people"]] == [name]
    too_many = fan.get(f"/api/users/{name}/followers",
                       params={"limit": limits.FOLLOW_PAGE_SIZE + 1})
    assert too_many.status_code == 422

    gone = fan.delete(f"/api/users/{name}/follow")
    assert gone.json() == {"followers": 1, "following": 0, "can": ["follow"]}


def test_refusals_say_why(people, server: Server) -> None:  # type: ignore[no-untyped-def]
    host, fan, other = people
    name = me(host)["username"]
    own = host.post(f"/api/users/{name}/follow")
    assert own.status_code == 400 and "yourself" in own.json()["detail"]
    missing = fan.post("/api/users/nobody_by_this_name/follow")
    assert missing.status_code == 404 and "no user" in missing.json()["detail"]
    assert fan.post(f"/api/users/{name}/follow").status_code == 200
    twice = fan.post(f"/api/users/{name}/follow")
    assert twice.status_code == 409 and "already follow" in twice.json()["detail"]
    not_following = other.delete(f"/api/users/{name}/follow")
    assert not_following.status_code == 404 and "do not follow" in not_following.json()["detail"]
    anonymous = httpx.post(f"{server.base_url}/api/users/{name}/follow")
    assert anonymous.status_code == 401

    # Blocked by the host (in one of the host's Spaces): cannot follow them.
    space = host.post("/api/spaces", json={"title": "Blocks"}).json()
    blocked = host.post(f"/api/spaces/{space['id']}/block", json={"user_id": me(other)["id"]})
    assert blocked.status_code == 200, blocked.text
    assert other.get(f"/api/users/{name}").json()["can"] == []
    refused = other.post(f"/api/users/{name}/follow")
    assert refused.status_code == 403 and "blocked" in refused.json()["detail"]


def test_follows_are_rate_limited_per_account(tmp_path: Path) -> None:
    server = start_server(tmp_path, command="serve")
    try:
        fan = signed_in_client(server.base_url, "ratefan")
        hosts = [signed_in_client(server.base_url, f"ratehost{i}") for i in range(2)]
        name = me(hosts[0])["username"]
        codes = []
        for _ in range(limits.FOLLOW_BURST // 2 + 1):
            codes.append(fan.post(f"/api/users/{name}/follow").status_code)
            codes.append(fan.delete(f"/api/users/{name}/follow").status_code)
        assert codes[:limits.FOLLOW_BURST // 2 * 2] == [200] * (limits.FOLLOW_BURST // 2 * 2)
        # Unfollowing is not counted; following is, so the burst ends.
        limited = [fan.post(f"/api/users/{name}/follow") for _ in range(limits.FOLLOW_BURST)]
        refused = [r for r in limited if r.status_code == 429]
        assert refused, [r.status_code for r in limited]
        assert "follows" in refused[0].json()["detail"]
        # Another account is not slowed by it.
        assert hosts[1].post(f"/api/users/{name}/follow").status_code == 200
        for c in (fan, *hosts):
            c.close()
    finally:
        stop_server(server)


def test_notifications_for_live_scheduled_reminder_and_invite(people) -> None:  # type: ignore[no-untyped-def]
    host, fan, other = people
    host.patch(f"/api/users/{me(host)['username']}", json={"display_name": "Ada Host"})
    name = me(host)["username"]
    assert fan.post(f"/api/users/{name}/follow").status_code == 200
    assert notifications(fan) == {"unread": 0, "notifications": [], "next": None}

    # Scheduled: followers hear it.
    start = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    later = host.post("/api/spaces", json={"title": "Tomorrow's show",
                                           "scheduled_start": start}).json()
    assert wait_for_texts(fan, 1) == ["Ada Host scheduled a Space: Tomorrow's show"]
    # Someone with a reminder (not a follower) hears it start; the follower hears it too.
    assert other.post(f"/api/spaces/{later['id']}/reminder").status_code == 204
    assert host.post(f"/api/spaces/{later['id']}/live").status_code == 200
    assert wait_for_texts(fan, 2)[0] == "Ada Host is live: Tomorrow's show"
    texts = wait_for_texts(other, 1)
    assert texts == ["A Space you set a reminder for has started: Tomorrow's show"]
    first = notifications(fan)["notifications"][0]
    assert first["kind"] == "live" and first["url"] == f"/s/{later['id']}"
    assert first["actor"]["display_name"] == "Ada Host" and first["read"] is False

    # Invited to speak: the invitee hears it.
    invited = host.post(f"/api/spaces/{later['id']}/speakers",
                        json={"username": me(other)["username"]})
    assert invited.status_code == 200, invited.text
    assert wait_for_texts(other, 2)[0] == "Ada Host invited you to speak: Tomorrow's show"

    # Read and unread; pages newest first.
    assert notifications(fan, limit=0) == {"unread": 2, "notifications": [], "next": None}
    page = notifications(fan, limit=1)
    assert page["next"] == page["notifications"][0]["id"]
    older = notifications(fan, limit=1, before=page["next"])
    assert older["notifications"][0]["kind"] == "scheduled" and older["next"] is None
    up_to = older["notifications"][0]["id"]
    assert fan.post("/api/me/notifications/read", json={"up_to": up_to}).json()["unread"] == 1
    assert [n["read"] for n in notifications(fan)["notifications"]] == [False, True]
    assert fan.post("/api/me/notifications/read", json={}).json()["unread"] == 0
    assert notifications(other)["unread"] == 2  # one person's reading is theirs alone
    assert fan.post("/api/me/notifications/read", json={"up_to": "x"}).status_code == 422


def test_private_spaces_and_the_unfollowed_tell_nobody(people) -> None:  # type: ignore[no-untyped-def]
    host, fan, other = people
    name = me(host)["username"]
    assert fan.post(f"/api/users/{name}/follow").status_code == 200
    hidden = host.post("/api/spaces", json={"title": "Members only", "private": True}).json()
    assert host.post(f"/api/spaces/{hidden['id']}/live").status_code == 200
    public = host.post("/api/spaces", json={"title": "Everyone"}).json()
    assert host.post(f"/api/spaces/{public['id']}/live").status_code == 200
    # The public one arrives (after the private one was handled: one worker, in order).
    assert wait_for_texts(fan, 1) == [f"{me(host)['display_name']} is live: Everyone"]
    assert notifications(other)["unread"] == 0
    assert httpx.get(f"{host.base_url}/api/me/notifications").status_code == 401


def test_a_follower_the_host_blocked_later_hears_nothing(people) -> None:  # type: ignore[no-untyped-def]
    host, fan, other = people
    name = me(host)["username"]
    for client in (fan, other):
        assert client.post(f"/api/users/{name}/follow").status_code == 200
    first = host.post("/api/spaces", json={"title": "Where it happened"}).json()
    assert host.post(f"/api/spaces/{first['id']}/block",
                     json={"user_id": me(other)["id"]}).status_code == 200
    second = host.post("/api/spaces", json={"title": "Afterwards"}).json()
    assert host.post(f"/api/spaces/{second['id']}/live").status_code == 200
    assert wait_for_texts(fan, 1) == [f"{me(host)['display_name']} is live: Afterwards"]
    # Both followers are in the same batch (one transaction): the fan's row means it is done.
    assert notifications(other)["notifications"] == []
    # Blocking ended the follow (as on X), and it cannot start again.
    assert host.get(f"/api/users/{name}").json()["followers"] == 1
    assert other.get(f"/api/users/{name}").json()["can"] == []
    assert other.post(f"/api/users/{name}/follow").status_code == 403
