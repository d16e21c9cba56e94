"""The Spaces product through the API: scheduling, waiting room, moderation enforced in
the media path, removals, blocks, rate limits and live events."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
import m3u8
import pytest

from townhall.testing.audio import band_level_db, dominant_frequency, rms
from townhall.testing.servers import (
    Server,
    invite_speaker,
    live_space,
    signed_in_client,
    stage,
    two_tone_speakers,
)
from townhall import limits
from townhall.tools.clients.hls import HlsReader, decode_fmp4
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher, sine

SECOND = limits.SAMPLE_RATE


def soon(minutes: float = 30) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def scheduled_space(host: httpx.Client, **extra: object) -> dict:
    response = host.post("/api/spaces", json={"title": "Later", "scheduled_start": soon(), **extra})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"title": "x", "scheduled_start": "2020-01-01T00:00:00Z"}, "in the past"),
        ({"title": "x", "scheduled_start": soon(60 * 24 * 15)}, "14 days"),
        ({"title": "x", "scheduled_start": "2030-01-01T00:00:00"}, "time zone"),
        ({"title": "x", "topics": ["a", "b", "c", "d"]}, "at most 3"),
        ({"title": "x", "topics": ["music", "Music"]}, "different"),
        ({"title": "x", "topics": ["x" * 41]}, "at most 40"),
        ({"title": "x", "description": "d" * 1001}, "at most 1000"),
    ],
)
def test_scheduling_limits_are_clear_errors(host: httpx.Client, body: dict, message: str) -> None:
    response = host.post("/api/spaces", json=body)
    assert response.status_code == 422
    assert message in response.json()["detail"]


def test_schedule_remind_and_calendar(server: Server, host: httpx.Client) -> None:
    space = scheduled_space(host, description="Weekly, with guests", topics=["music", "live"])
    assert space["state"] == "scheduled" and space["topics"] == ["music", "live"]
    fan = signed_in_client(server.base_url, "fan")
    assert fan.post(f"/api/spaces/{space['id']}/reminder").status_code == 204
    assert fan.get(f"/api/spaces/{space['id']}").json()["reminded"] is True
    assert [s["id"] for s in fan.get("/api/me/reminders").json()] == [space["id"]]
    upcoming = {s["id"] for s in fan.get("/api/spaces").json()["upcoming"]}
    assert space["id"] in upcoming
    ics = httpx.get(f"{server.base_url}/api/spaces/{space['id']}/calendar.ics")
    assert ics.headers["content-type"].startswith("text/calendar")
    assert "SUMMARY:Later" in ics.text and f"/s/{space['id']}" in ics.text
    start = datetime.fromisoformat(space["scheduled_start"]).strftime("%Y%m%dT%H%M%SZ")
    assert f"DTSTART:{start}" in ics.text
    # Going live keeps it in the reminded list, now live.
    host.post(f"/api/spaces/{space['id']}/live")
    assert [s["state"] for s in fan.get("/api/me/reminders").json()] == ["live"]
    assert host.post(f"/api/spaces/{space['id']}/end").status_code == 200
    assert fan.get("/api/me/reminders").json() == []
    # Cancelling is only for Spaces that have not started.
    other = scheduled_space(host)
    assert host.post(f"/api/spaces/{other['id']}/cancel").json()["state"] == "cancelled"
    assert host.post(f"/api/spaces/{other['id']}/live").status_code == 409


async def test_waiting_room_plays_before_start_and_continues_into_the_live_audio(
    server: Server,
) -> None:
    host = signed_in_client(server.base_url, "wrhost")
    space = scheduled_space(host)
    async with httpx.AsyncClient() as client:
        early = HlsReader(space["hls_url"], client)
        await early.start(parts_back=0)  # a valid stream before the start: not a 404
        await early.read_seconds(1.5, timeout=20)
        waiting, _ = early.decode()
        assert rms(waiting) < 0.01  # silence while waiting

        assert host.post(f"/api/spaces/{space['id']}/live").status_code == 200
        creds = stage(host, space["id"])
        speaker = WhipPublisher(creds["whip_url"], creds["token"], SyntheticTrack(sine(440)))
        await speaker.start()
        try:
            # The same player, never re-joined, hears the host.
            await early.read_seconds(early_seconds(early) + 4.0, timeout=30)
        finally:
            await speaker.stop()
    pcm, frames = early.decode()
    assert abs(dominant_frequency(pcm[-SECOND:]) - 440) <= 5
    steps = {b[0] - a[0] for a, b in zip(frames, frames[1:])}
    assert steps == {limits.AAC_FRAME_SAMPLES}  # one continuous stream across the start
    host.post(f"/api/spaces/{space['id']}/end")
    # The waiting time is not in the replay: it starts at (about) going live.
    replay = m3u8.loads(httpx.get(f"{server.base_url}/hls/{space['id']}/replay.m3u8").text)
    assert replay.is_endlist


def early_seconds(reader: HlsReader) -> float:
    return sum(p.duration for p in reader.parts)


async def test_moderator_mute_keeps_a_speaker_out_of_the_program(server: Server) -> None:
    host = signed_in_client(server.base_url, "mutehost")
    guest = signed_in_client(server.base_url, "muteguest")
    space = live_space(host, "Mute")
    a, b = two_tone_speakers(host, guest, space["id"])
    guest_id = guest.get("/api/me").json()["id"]
    await a.start()
    await b.start()
    try:
        async with httpx.AsyncClient() as client:
            reader = HlsReader(space["hls_url"], client)
            await reader.start(parts_back=0)
            await reader.read_seconds(3.0, timeout=20)
            before, _ = reader.decode()
            assert band_level_db(before[-SECOND:], 880) > -6

            muted = host.post(f"/api/spaces/{space['id']}/mute", json={"user_id": guest_id})
            assert muted.status_code == 200 and muted.json()["speakers"][1]["muted"] is True
            # The guest cannot be unmuted by the host, only by themselves.
            assert host.post(f"/api/spaces/{space['id']}/unmute",
                             json={"user_id": guest_id}).status_code == 403
            skip = len(reader.parts) + 4  # parts in flight when the mute landed
            await reader.read_seconds(early_seconds(reader) + 3.0, timeout=20)
            after = decode_fmp4(reader.init + b"".join(p.data for p in reader.parts[skip:]))[0]
            assert band_level_db(after, 880) < -30
            assert band_level_db(after, 440) > -3
            # The host hears nothing from the muted guest either.
            await a.wait_received(1.0, timeout=10)
            assert rms(a.received_pcm(0.5)) < 0.01

            assert guest.post(f"/api/spaces/{space['id']}/unmute",
                              json={"user_id": guest_id}).status_code == 200
            await reader.read_seconds(early_seconds(reader) + 2.5, timeout=20)
            tail, _ = reader.decode()
            assert band_level_db(tail[-SECOND:], 880) > -6
    finally:
        await a.stop()
        await b.stop()


async def test_removed_speaker_is_cut_off_and_cannot_return(server: Server) -> None:
    host = signed_in_client(server.base_url, "rmhost")
    guest = signed_in_client(server.base_url, "rmguest")
    space = live_space(host, "Removal")
    invite_speaker(host, guest, space["id"])
    guest_id = guest.get("/api/me").json()["id"]
    creds = stage(guest, space["id"])
    speaker = WhipPublisher(creds["whip_url"], creds["token"], SyntheticTrack(sine(880)))
    await speaker.start()
    try:
        await speaker.wait_received(0.5, timeout=10)
        removed = host.post(f"/api/spaces/{space['id']}/remove", json={"user_id": guest_id})
        assert removed.status_code == 200
        assert guest_id not in [s["id"] for s in removed.json()["speakers"]]
        # The peer connection is closed at once by the server.
        for _ in range(100):
            if speaker.pc is not None and speaker.pc.connectionState == "closed":
                break
            await asyncio.sleep(0.05)
        assert speaker.pc is not None and speaker.pc.connectionState in ("closed", "failed")
    finally:
        await speaker.stop()
    # The token is revoked, and the guest cannot come back in any way.
    again = httpx.post(creds["whip_url"], content="v=0", headers={
        "Content-Type": "application/sdp", "Authorization": f"Bearer {creds['token']}"})
    assert again.status_code == 401
    assert guest.get(f"/api/spaces/{space['id']}").status_code == 403
    assert guest.post(f"/api/spaces/{space['id']}/stage").status_code == 403
    code = host.post(f"/api/spaces/{space['id']}/invites").json()["code"]
    assert guest.post(f"/api/spaces/{space['id']}/invites/{code}/accept").status_code == 403


def test_a_blocked_user_cannot_join_any_of_the_hosts_spaces(server: Server) -> None:
    host = signed_in_client(server.base_url, "blkhost")
    pest = signed_in_client(server.base_url, "pest")
    pest_id = pest.get("/api/me").json()["id"]
    first = live_space(host, "First")
    assert pest.post(f"/api/spaces/{first['id']}/hand").status_code == 200
    blocked = host.post(f"/api/spaces/{first['id']}/block", json={"user_id": pest_id})
    assert blocked.status_code == 200 and blocked.json()["hands"] == []
    second = live_space(host, "Second")
    assert pest.get(f"/api/spaces/{second['id']}").status_code == 403
    assert pest.post(f"/api/spaces/{second['id']}/hand").status_code == 403
    assert [u["id"] for u in host.get("/api/me/blocks").json()] == [pest_id]
    assert host.delete(f"/api/me/blocks/{pest_id}").status_code == 204
    assert pest.get(f"/api/spaces/{second['id']}").status_code == 200


def test_hands_raise_approve_and_duplicates(server: Server) -> None:
    host = signed_in_client(server.base_url, "handhost")
    fan = signed_in_client(server.base_url, "handfan")
    fan_id = fan.get("/api/me").json()["id"]
    space = live_space(host, "Hands")
    assert fan.post(f"/api/spaces/{space['id']}/hand").json()["hands"][0]["id"] == fan_id
    duplicate = fan.post(f"/api/spaces/{space['id']}/hand")
    assert duplicate.status_code == 409 and "already raised" in duplicate.json()["detail"]
    assert fan.post(f"/api/spaces/{space['id']}/hands/{fan_id}/approve").status_code == 403
    approved = host.post(f"/api/spaces/{space['id']}/hands/{fan_id}/approve").json()
    assert approved["hands"] == [] and approved["speakers"][1]["role"] == "speaker"
    assert fan.get(f"/api/spaces/{space['id']}").json()["your_role"] == "speaker"
    assert fan.post(f"/api/spaces/{space['id']}/stage").status_code == 200
    assert fan.post(f"/api/spaces/{space['id']}/step-down").json()["speakers"][1:] == []
    assert host.post(f"/api/spaces/{space['id']}/hands/999999/approve").status_code == 409
    host.post(f"/api/spaces/{space['id']}/end")
    assert fan.post(f"/api/spaces/{space['id']}/hand").status_code == 409  # ended


def test_reactions_are_rate_limited_with_retry_after(server: Server, host: httpx.Client) -> None:
    space = live_space(host, "Cheers")
    fan = signed_in_client(server.base_url, "cheer")
    statuses = [fan.post(f"/api/spaces/{space['id']}/reactions", json={"emoji": "👏"})
                for _ in range(limits.REACTION_BURST + 3)]
    codes = [r.status_code for r in statuses]
    assert codes[: limits.REACTION_BURST] == [202] * limits.REACTION_BURST
    assert 429 in codes
    limited = next(r for r in statuses if r.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 1 and "too many" in limited.json()["detail"]
    bad = fan.post(f"/api/spaces/{space['id']}/reactions", json={"emoji": "💩"})
    assert bad.status_code == 400
    host.post(f"/api/spaces/{space['id']}/end")


async def test_live_events_stream(server: Server) -> None:
    host = signed_in_client(server.base_url, "evhost")
    fan = signed_in_client(server.base_url, "evfan")
    space = live_space(host, "Events")
    messages: list[dict] = []

    async def listen() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            async with client.stream("GET", f"{server.base_url}/api/spaces/{space['id']}/events") as r:
                assert r.headers["content-type"].startswith("text/event-stream")
                async for line in r.aiter_lines():
                    if line.startswith("data: "):
                        messages.append(json.loads(line[6:]))

    task = asyncio.create_task(listen())

    async def wait_for(kind: str, deadline: float = 10.0, after: int = 0) -> dict:
        for _ in range(int(deadline / 0.05)):
            found = [m for m in messages[after:] if m["type"] == kind]
            if found:
                return found[-1]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {kind} message in {messages}")

    snapshot = await wait_for("snapshot")
    assert snapshot["space"]["id"] == space["id"]
    await asyncio.to_thread(fan.post, f"/api/spaces/{space['id']}/hand")
    change = await wait_for("change")
    assert change["events"][0]["type"] == "HandRaised" and change["space"]["hands"]
    await asyncio.to_thread(fan.post, f"/api/spaces/{space['id']}/reactions", json={"emoji": "🔥"})
    assert (await wait_for("reaction"))["emoji"] == "🔥"
    await asyncio.to_thread(fan.post, f"/api/spaces/{space['id']}/beacon",
                            json={"session": "listener-session-0001"})
    seen = len(messages)
    for _ in range(200):  # audience figures go out every 2 s
        counts = [m for m in messages[seen:] if m["type"] == "audience"]
        if counts:
            break
        await asyncio.sleep(0.05)
    assert counts and counts[-1]["listeners"] == 1 and counts[-1]["unique"] == 1
    seen = len(messages)
    await asyncio.to_thread(host.post, f"/api/spaces/{space['id']}/end")
    ended = await wait_for("change", after=seen)
    assert ended["events"] == [{"type": "StateChanged", "state": "ended"}]
    assert ended["space"]["state"] == "ended"
    await asyncio.wait_for(task, 10)  # the stream ends with the Space


def test_editing_checks_fields_like_creating(host: httpx.Client) -> None:
    space = scheduled_space(host)
    for body, message in (({"topics": ["a", "A"]}, "different"), ({"topics": [" "]}, "blank"),
                          ({"title": "   "}, "title"), ({"topics": ["t"] * 4}, "at most 3")):
        response = host.patch(f"/api/spaces/{space['id']}", json=body)
        assert response.status_code == 422 and message in response.json()["detail"], body
    edited = host.patch(f"/api/spaces/{space['id']}", json={"title": " New ", "topics": [" x "]})
    assert edited.status_code == 200
    assert (edited.json()["title"], edited.json()["topics"]) == ("New", ["x"])
