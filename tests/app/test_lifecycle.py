"""The lifecycle on a real server (townhall/app/lifecycle.py), its delays shortened by
settings: a host who leaves the stage gets the Space a warning, coming back calls it
off, staying away ends it, and the replay keeps the host's tone but not the silence
after the warning; a Space nobody started is cancelled, drops out of Upcoming for
everyone but its host after the grace, and its calendar file never starts in the past."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import m3u8
import pytest

from townhall.testing.audio import dominant_frequency
from townhall.testing.servers import Server, live_space, signed_in_client, stage, start_server, stop_server
from townhall.testing.sse import EventStream
from townhall.testing.waiting import wait_until
from townhall.tools.clients.hls import HlsReader, decode_fmp4
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher, sine

WARNING = 1.5  # seconds off stage before the warning
END = 6.0  # seconds from the warning to the end: longer than a segment, so a kept tail shows
QUICK = {
    "TOWNHALL_HOST_ABSENT_WARNING": str(WARNING),
    "TOWNHALL_HOST_ABSENT_END": str(END),
    "TOWNHALL_LIFECYCLE_CHECK_EVERY": "0.25",
    "TOWNHALL_UPCOMING_GRACE": "1",
    "TOWNHALL_SWEEP_EVERY": "0.25",
}


@pytest.fixture(scope="module")
def quick_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Spaces whose host left end within seconds; "now" Spaces never expire here."""
    server = start_server(tmp_path_factory.mktemp("lifecycle"), command="serve",
                          extra_env={**QUICK, "TOWNHALL_NOW_SPACE_EXPIRY": "3600"})
    yield server
    stop_server(server)
    assert "Traceback" not in server.log(), server.log()[-5000:]


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def speak_until_heard(creds: dict, hls_url: str, seconds: float) -> WhipPublisher:
    """The host's 440 Hz tone on air, and `seconds` of the broadcast read from the live
    edge (it is being heard), then left running for the caller to stop."""
    speaker = WhipPublisher(creds["whip_url"], creds["token"], SyntheticTrack(sine(440)))
    await speaker.start()
    async with httpx.AsyncClient() as client:
        reader = HlsReader(hls_url, client)
        await reader.start(parts_back=0)
        await reader.read_seconds(seconds, timeout=30)
    return speaker


async def test_a_host_who_leaves_gets_a_warning_comes_back_then_leaves_for_good(
        quick_server: Server) -> None:
    host = signed_in_client(quick_server.base_url, "absent")
    space = live_space(host, "The host wanders off")
    space_id = space["id"]
    url = f"{quick_server.base_url}/api/spaces/{space_id}/events"
    async with EventStream(url) as stream:
        # Nobody on stage since going live: warned once WARNING has passed.
        first = await stream.wait_for_event("EndingScheduled", timeout=20)
        assert first["space"]["ending"]["reason"] == "host_absent"
        ends_in = moment(first["ends_at"]) - moment(first["warned_at"])
        assert ends_in == timedelta(seconds=END)

        # The host comes on stage: called off, and the Space goes on.
        seen = len(stream.messages)
        speaker = await speak_until_heard(stage(host, space_id), space["hls_url"], 2.0)
        called_off = await stream.wait_for_event("EndingCancelled", after=seen, timeout=20)
        assert called_off["space"]["ending"] is None and called_off["space"]["state"] == "live"
        assert host.get(f"/api/spaces/{space_id}").json()["ending"] is None

        # Speaking longer than the warning takes: no new warning while on stage.
        async with httpx.AsyncClient() as client:
            reader = HlsReader(space["hls_url"], client)
            await reader.start(parts_back=0)
            await reader.read_seconds(WARNING + 1.0, timeout=30)
        assert not [e for e in stream.of("change", seen)
                    for e in e["events"] if e["type"] == "EndingScheduled"]

        # The host leaves without ending it: warned again, then it ends itself.
        seen = len(stream.messages)
        await speaker.stop()
        left_at = datetime.now(UTC)
        warning = await stream.wait_for_event("EndingScheduled", after=seen, timeout=20)
        warned_at = moment(warning["warned_at"])
        assert warned_at - left_at >= timedelta(seconds=WARNING - 0.5)
        shown = host.get(f"/api/spaces/{space_id}").json()["ending"]["ends_at"]
        assert moment(shown) == moment(warning["ends_at"])
        ended = await stream.wait_for_event("StateChanged", after=seen, timeout=END + 20)
        assert ended["state"] == "ended"
        assert datetime.now(UTC) >= moment(warning["ends_at"])

    after = host.get(f"/api/spaces/{space_id}").json()
    assert after["state"] == "ended" and after["end_reason"] == "host_absent"
    assert after["ending"] is None and after["ended_at"] is not None
    # The Space's stage is closed: no new WHIP credentials.
    assert host.post(f"/api/spaces/{space_id}/stage").status_code in (403, 409)

    # The replay: the host's tone, and nothing recorded after the warning.
    playlist = m3u8.loads(httpx.get(after["replay_url"]).text, uri=after["replay_url"])
    assert playlist.is_endlist and playlist.segments
    started = moment(after["started_at"])
    replay_seconds = sum(s.duration for s in playlist.segments)
    on_air = (warned_at - started).total_seconds()
    assert replay_seconds <= on_air + 2.5, (replay_seconds, on_air)  # at most the segment under way
    whole = (moment(after["ended_at"]) - started).total_seconds()
    assert whole >= on_air + END - 0.5  # so the cut left out the silent tail
    base = after["replay_url"].rsplit("/", 1)[0]
    audio = httpx.get(f"{base}/{playlist.segment_map[0].uri}").content + b"".join(
        httpx.get(f"{base}/{s.uri}").content for s in playlist.segments)
    pcm, _ = decode_fmp4(audio)
    assert abs(dominant_frequency(pcm, 48000) - 440) < 5
    # The left-out segments' files are gone from the recording.
    recorded = sorted(p.name for p in (quick_server.data_dir / "recordings" / space_id).glob("seg*.m4s"))
    assert recorded == sorted(Path(s.uri).name for s in playlist.segments)


def test_a_space_past_its_start_leaves_upcoming_but_its_host_still_sees_it(
        quick_server: Server) -> None:
    host = signed_in_client(quick_server.base_url, "late")
    created = host.post("/api/spaces", json={"title": "Later than planned"}).json()
    space_id = created["id"]

    # Its calendar file starts now, not at its creation (already past when downloaded).
    asked = datetime.now(UTC).replace(microsecond=0)
    ics = host.get(f"/api/spaces/{space_id}/calendar.ics").text
    start = next(line for line in ics.splitlines() if line.startswith("DTSTART:"))
    assert datetime.strptime(start[8:], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) >= asked

    def upcoming(client: httpx.Client) -> set[str]:
        return {s["id"] for s in client.get("/api/spaces").json()["upcoming"]}

    with httpx.Client(base_url=quick_server.base_url) as anonymous:
        wait_until(lambda: space_id not in upcoming(anonymous), timeout=15,
                   what="the stale Space to leave Upcoming")
        assert space_id in upcoming(host)  # its host still finds it
        assert host.get(f"/api/spaces/{space_id}").json()["state"] == "scheduled"


def test_a_space_nobody_started_is_cancelled(tmp_path: Path) -> None:
    server = start_server(tmp_path, command="serve",
                          extra_env={**QUICK, "TOWNHALL_NOW_SPACE_EXPIRY": "1"})
    try:
        host = signed_in_client(server.base_url, "never")
        space_id = host.post("/api/spaces", json={"title": "Never went live"}).json()["id"]
        wait_until(lambda: host.get(f"/api/spaces/{space_id}").json()["state"] == "cancelled",
                   timeout=20, what="the never-started Space to expire")
        space = host.get(f"/api/spaces/{space_id}").json()
        assert space["end_reason"] == "never_started" and space["ended_at"] is not None
        assert "CANCELLED" in host.get(f"/api/spaces/{space_id}/calendar.ics").text
        assert host.post(f"/api/spaces/{space_id}/live").status_code == 409
    finally:
        stop_server(server)
    assert "Traceback" not in server.log(), server.log()[-5000:]


async def test_the_demo_voice_keeps_its_space_hosted(tmp_path: Path) -> None:
    """`townhall demo` plays a voice of the server's own: its Space is never warned."""
    server = start_server(tmp_path, command="demo", extra_env=QUICK)
    try:
        listed = await asyncio.to_thread(httpx.get, f"{server.base_url}/api/spaces")
        demo = listed.json()["live"][0]
        async with EventStream(f"{server.base_url}/api/spaces/{demo['id']}/events") as stream:
            async with httpx.AsyncClient() as client:
                reader = HlsReader(demo["hls_url"], client)
                await reader.start(parts_back=0)
                await reader.read_seconds(WARNING + 2.0, timeout=30)
            assert not stream.of("change")
        assert httpx.get(f"{server.base_url}/api/spaces/{demo['id']}").json()["ending"] is None
    finally:
        stop_server(server)
