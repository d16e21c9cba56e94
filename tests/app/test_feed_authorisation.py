"""Every event a live-events stream sends is authorised for its subscriber when it is
sent (townhall/app/feeds.py): a stream opened while allowed stops, with a `denied`
event and its code, as soon as the viewer may no longer view the Space."""

from __future__ import annotations

import asyncio

import httpx

from townhall.testing.servers import Server, invite_speaker, live_space, signed_in_client
from townhall.testing.sse import EventStream


def user_id(client: httpx.Client) -> int:
    return int(client.get("/api/me").json()["id"])


def events_url(server: Server, space_id: str) -> str:
    return f"{server.base_url}/api/spaces/{space_id}/events"


async def post(client: httpx.Client, path: str, **kwargs: object) -> httpx.Response:
    return await asyncio.to_thread(client.request, "POST", path, **kwargs)  # type: ignore[arg-type]


async def assert_cut_off(stream: EventStream, host: httpx.Client, space_id: str,
                         code: str, seen: int) -> None:
    """The stream says why and ends; a later change (a new title) never reaches it."""
    denied = await stream.wait_for("denied", after=seen)
    assert denied["code"] == code, denied
    await stream.wait_ended()
    title = "A secret title only members may read"
    edited = await asyncio.to_thread(host.patch, f"/api/spaces/{space_id}", json={"title": title})
    assert edited.status_code == 200, edited.text
    assert not any(title in str(m) for m in stream.messages)
    # Nothing was sent after the denial.
    assert stream.messages[-1]["type"] == "denied"
    await asyncio.to_thread(host.post, f"/api/spaces/{space_id}/end")  # its mixer stops


async def test_a_guest_taken_off_a_private_list_stops_receiving(server: Server) -> None:
    host = signed_in_client(server.base_url, "fahost")
    guest = signed_in_client(server.base_url, "faguest")
    guest_name = guest.get("/api/me").json()["username"]
    space = host.post("/api/spaces", json={"title": "Members", "private": True}).json()
    assert host.post(f"/api/spaces/{space['id']}/listeners/{guest_name}").status_code == 200
    async with EventStream(events_url(server, space["id"]), guest.cookies) as stream:
        pinned = await asyncio.to_thread(host.put, f"/api/spaces/{space['id']}/pinned",
                                         json={"url": "https://example.org/notes"})
        assert pinned.status_code == 200
        assert (await stream.wait_for("pinned"))["url"] == "https://example.org/notes"
        seen = len(stream.messages)
        gone = await asyncio.to_thread(host.delete, f"/api/spaces/{space['id']}/listeners/{guest_name}")
        assert gone.status_code == 200
        await assert_cut_off(stream, host, space["id"], "private", seen)


async def test_a_removed_speaker_stops_receiving(server: Server) -> None:
    host = signed_in_client(server.base_url, "frhost")
    guest = signed_in_client(server.base_url, "frguest")
    space = live_space(host, "Removal feed")
    invite_speaker(host, guest, space["id"])
    async with EventStream(events_url(server, space["id"]), guest.cookies) as stream:
        seen = len(stream.messages)
        removed = await post(host, f"/api/spaces/{space['id']}/remove",
                             json={"user_id": user_id(guest)})
        assert removed.status_code == 200
        await assert_cut_off(stream, host, space["id"], "removed", seen)


async def test_a_blocked_listener_stops_receiving(server: Server) -> None:
    host = signed_in_client(server.base_url, "fbhost")
    pest = signed_in_client(server.base_url, "fbpest")
    space = live_space(host, "Block feed")
    async with EventStream(events_url(server, space["id"]), pest.cookies) as stream:
        seen = len(stream.messages)
        blocked = await post(host, f"/api/spaces/{space['id']}/block",
                             json={"user_id": user_id(pest)})
        assert blocked.status_code == 200
        await assert_cut_off(stream, host, space["id"], "blocked", seen)


async def test_an_anonymous_stream_stops_when_the_space_becomes_private(server: Server) -> None:
    host = signed_in_client(server.base_url, "fphost")
    space = host.post("/api/spaces", json={"title": "Public for now"}).json()
    async with EventStream(events_url(server, space["id"])) as stream:
        assert stream.messages[0]["space"]["you"]["role"] == "anonymous"
        seen = len(stream.messages)
        made_private = await asyncio.to_thread(host.patch, f"/api/spaces/{space['id']}",
                                               json={"private": True})
        assert made_private.status_code == 200
        await assert_cut_off(stream, host, space["id"], "sign_in_required", seen)


async def test_a_speaker_who_steps_down_in_a_private_space_stops_receiving(server: Server) -> None:
    """Demoted to listener without a place on the guest list: no longer a member."""
    host = signed_in_client(server.base_url, "fdhost")
    guest = signed_in_client(server.base_url, "fdguest")
    space = host.post("/api/spaces", json={"title": "Private panel", "private": True}).json()
    assert host.post(f"/api/spaces/{space['id']}/live").status_code == 200
    invite_speaker(host, guest, space["id"])
    async with EventStream(events_url(server, space["id"]), guest.cookies) as stream:
        seen = len(stream.messages)
        down = await post(guest, f"/api/spaces/{space['id']}/step-down")
        assert down.status_code == 200
        await assert_cut_off(stream, host, space["id"], "private", seen)


async def test_changes_say_what_each_viewer_may_do(server: Server) -> None:
    """A change goes out personalised: the host may mute the speaker, a listener may not,
    and each sees their own role."""
    host = signed_in_client(server.base_url, "fchost")
    guest = signed_in_client(server.base_url, "fcguest")
    fan = signed_in_client(server.base_url, "fcfan")
    space = live_space(host, "Personal")
    url = events_url(server, space["id"])
    async with EventStream(url, host.cookies) as for_host, EventStream(url, fan.cookies) as for_fan:
        seen_host, seen_fan = len(for_host.messages), len(for_fan.messages)
        invite_speaker(host, guest, space["id"])
        host_view = (await for_host.wait_for("change", after=seen_host))["space"]
        fan_view = (await for_fan.wait_for("change", after=seen_fan))["space"]
    guest_entry = lambda view: next(s for s in view["speakers"] if s["id"] == user_id(guest))  # noqa: E731
    assert host_view["you"]["role"] == "host" and "end" in host_view["you"]["can"]
    assert {"mute", "remove", "block"} <= set(guest_entry(host_view)["can"])
    assert fan_view["you"]["role"] == "listener" and fan_view["you"]["id"] == user_id(fan)
    assert "raise_hand" in fan_view["you"]["can"] and "end" not in fan_view["you"]["can"]
    assert guest_entry(fan_view)["can"] == []
    assert "room" not in str(for_fan.messages[-1].keys())
