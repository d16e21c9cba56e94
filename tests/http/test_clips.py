"""Clips, the replay's download, the host's trim and deletion, and the podcast feed, end
to end: a speaker publishes 440 Hz then 880 Hz over WHIP, the Space ends, and every
file is checked by what it sounds like (townhall/testing/browser.py decodes it)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import feedparser
import httpx
import m3u8
import numpy as np
import pytest

from townhall import limits
from townhall.testing.browser import decode_audio, dominant_frequency
from townhall.testing.servers import (MANY_SIGNUPS, Server, live_space, signed_in_client, stage,
                                      start_server, stop_server)
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher

FIRST_HZ, SECOND_HZ = 440, 880
TONE_SECONDS = 4.0
FRAME = limits.AAC_FRAME_SAMPLES / limits.SAMPLE_RATE


def two_tones(switch_at: int):  # type: ignore[no-untyped-def]
    def samples(start: int, count: int) -> np.ndarray:
        index = start + np.arange(count)
        freq = np.where(index < switch_at, FIRST_HZ, SECOND_HZ)
        return (np.sin(2 * np.pi * freq * index / limits.SAMPLE_RATE) * 0.3 * 32767).astype(np.int16)
    return samples


def tone_at(pcm: np.ndarray, rate: int, start: float, end: float) -> float:
    return dominant_frequency(pcm[int(start * rate):int(end * rate)], rate)


def switch_time(pcm: np.ndarray, rate: int) -> float:
    """Where the second tone starts (to a tenth of a second)."""
    step = rate // 10
    for i in range(0, len(pcm) - step, step):
        window = pcm[i:i + step]
        if np.abs(window).max() > 0.05 and abs(dominant_frequency(window, rate) - SECOND_HZ) < 30:
            return i / rate
    raise AssertionError("the second tone is not in the audio")


@dataclass
class Recorded:
    space: dict
    host: httpx.Client
    live_clip: dict
    live_clip_audio: bytes


async def _publish_and_end(server: Server, host: httpx.Client) -> tuple[dict, dict, bytes]:
    space = live_space(host, "Two tones")
    creds = stage(host, space["id"])
    track = SyntheticTrack(two_tones(int(TONE_SECONDS * limits.SAMPLE_RATE)))
    speaker = WhipPublisher(creds["whip_url"], creds["token"], track)
    await speaker.start()
    await asyncio.sleep(2 * TONE_SECONDS + 3)
    # The live clip: the last 30 s of what is recorded by now (all of it, here).
    made = host.post(f"/api/spaces/{space['id']}/clips", json={"last": 30})
    assert made.status_code == 201, made.text
    live_clip = made.json()
    audio = host.get(live_clip["audio_url"])
    assert audio.status_code == 200, audio.text
    await speaker.stop()
    ended = host.post(f"/api/spaces/{space['id']}/end")
    assert ended.status_code == 200, ended.text
    return ended.json(), live_clip, audio.content


@pytest.fixture(scope="module")
def recorded(server: Server) -> Iterator[Recorded]:
    host = signed_in_client(server.base_url, "cliphost")
    space, live_clip, audio = asyncio.run(_publish_and_end(server, host))
    yield Recorded(space, host, live_clip, audio)
    host.close()


def wait_until(check, timeout: float):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout} s")


def recording_of(client: httpx.Client, space_id: str) -> dict:
    got = client.get(f"/api/spaces/{space_id}/recording")
    assert got.status_code == 200, got.text
    return got.json()


def test_the_live_clip_is_the_last_seconds_recorded(recorded: Recorded) -> None:
    clip = recorded.live_clip
    assert 0 < clip["end"] - clip["start"] <= limits.LIVE_CLIP_SECONDS
    pcm, rate = decode_audio(recorded.live_clip_audio)
    assert abs(len(pcm) / rate - clip["duration"]) <= 2 * FRAME
    # The clip holds both tones, the second last.
    at = switch_time(pcm, rate)
    assert abs(tone_at(pcm, rate, at - 2.5, at - 0.5) - FIRST_HZ) < 10
    assert abs(tone_at(pcm, rate, at + 0.5, at + 2.5) - SECOND_HZ) < 10


def test_the_download_is_the_replay_with_range_requests(recorded: Recorded) -> None:
    info = recording_of(recorded.host, recorded.space["id"])
    assert info["status"] == "available" and info["download_url"].endswith("/replay.m4a")
    assert {"clip", "download", "trim", "delete_recording"} <= set(info["can"])
    full = httpx.get(info["download_url"])
    assert full.status_code == 200, full.text
    assert full.headers["content-type"] == "audio/mp4"
    assert full.headers["accept-ranges"] == "bytes"
    assert int(full.headers["content-length"]) == len(full.content)
    pcm, rate = decode_audio(full.content)
    assert abs(len(pcm) / rate - info["duration"]) <= 2 * FRAME
    at = switch_time(pcm, rate)
    assert abs(tone_at(pcm, rate, at - 3.0, at - 0.5) - FIRST_HZ) < 10
    assert abs(tone_at(pcm, rate, at + 0.5, at + 3.0) - SECOND_HZ) < 10
    part = httpx.get(info["download_url"], headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-1099/{len(full.content)}"
    assert part.content == full.content[100:1100]
    beyond = httpx.get(info["download_url"], headers={"Range": f"bytes={len(full.content) + 10}-"})
    assert beyond.status_code == 416


def _full_pcm(info: dict) -> tuple[np.ndarray, int]:
    return decode_audio(httpx.get(info["download_url"]).content)


def test_a_clip_is_the_window_asked_for(recorded: Recorded, server: Server) -> None:
    space_id = recorded.space["id"]
    info = recording_of(recorded.host, space_id)
    pcm, rate = _full_pcm(info)
    at = switch_time(pcm, rate)
    listener = signed_in_client(server.base_url, "clipper")
    for (start, end), tone in (((at - 3.0, at - 1.0), FIRST_HZ), ((at + 0.5, at + 3.0), SECOND_HZ)):
        made = listener.post(f"/api/spaces/{space_id}/clips",
                             json={"start": start, "end": end, "title": f"{tone} Hz"})
        assert made.status_code == 201, made.text
        clip = made.json()
        assert clip["page_url"].endswith(f"/c/{clip['id']}") and clip["can"] == ["delete"]
        audio = httpx.get(clip["audio_url"])
        assert audio.status_code == 200 and audio.headers["content-type"] == "audio/mp4"
        got, got_rate = decode_audio(audio.content)
        assert abs(len(got) / got_rate - (end - start)) <= FRAME + 1e-6, len(got) / got_rate
        assert abs(dominant_frequency(got, got_rate) - tone) < 10
    # Listed on the Space, newest first.
    listed = httpx.get(f"{server.base_url}/api/spaces/{space_id}/clips").json()["clips"]
    assert [c["title"] for c in listed][:2] == [f"{SECOND_HZ} Hz", f"{FIRST_HZ} Hz"]
    # The clip's page: player, captions track, link back, preview tags for link previews.
    page = httpx.get(clip["page_url"])
    assert page.status_code == 200
    for needle in (f'<meta property="og:audio" content="{clip["audio_url"]}">',
                   '<meta property="og:audio:type" content="audio/mp4">',
                   '<meta name="twitter:card" content="player">',
                   f'src="{clip["audio_url"]}"', 'kind="captions"', f'href="/s/{space_id}"'):
        assert needle in page.text, needle
    listener.close()


def test_a_clip_has_the_transcript_words_within_it(recorded: Recorded, server: Server) -> None:
    space_id = recorded.space["id"]
    transcript = {"final": True, "model": "test", "segments": [
        {"start": 0.0, "end": 1.0, "speaker_id": None, "speaker": "Host", "text": "Before."},
        {"start": 2.0, "end": 3.5, "speaker_id": None, "speaker": "Host", "text": "Inside."},
        {"start": 3.0, "end": 9.0, "speaker_id": None, "speaker": "Guest", "text": "Across."},
        {"start": "bad"}]}
    path = server.data_dir / "recordings" / space_id / "transcript.json"
    path.write_text(json.dumps(transcript))
    clip = recorded.host.post(f"/api/spaces/{space_id}/clips",
                              json={"start": 1.5, "end": 4.5}).json()
    vtt = httpx.get(clip["captions_url"])
    assert vtt.status_code == 200 and vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text.startswith("WEBVTT")
    assert "00:00:00.500 --> 00:00:02.000\n<v Host>Inside." in vtt.text
    assert "00:00:01.500 --> 00:00:03.000\n<v Guest>Across." in vtt.text
    assert "Before." not in vtt.text


def test_clip_requests_are_checked(recorded: Recorded, server: Server) -> None:
    space_id = recorded.space["id"]
    url = f"/api/spaces/{space_id}/clips"
    anonymous = httpx.post(f"{server.base_url}{url}", json={"start": 1, "end": 5})
    assert anonymous.status_code == 401
    maker = signed_in_client(server.base_url, "checker")
    duration = recording_of(maker, space_id)["duration"]
    cases = [({"start": 0, "end": 61}, 400, "end"),  # longer than a minute
             ({"start": 5, "end": 4}, 400, "end"),
             ({"start": 1, "end": duration + 5}, 400, "end"),  # past the recording
             ({"start": -1, "end": 3}, 422, "start"),
             ({"start": 1}, 422, None),
             ({"last": 10}, 400, "last")]  # the last seconds are for a live Space
    for body, status, field in cases:
        got = maker.post(url, json=body)
        assert got.status_code == status, (body, got.text)
        assert got.json()["code"] and got.json()["detail"]
        if field is not None:
            assert field in got.json().get("fields", {}), (body, got.json())
    maker.close()


def test_who_may_delete_a_clip(recorded: Recorded, server: Server) -> None:
    space_id = recorded.space["id"]
    maker = signed_in_client(server.base_url, "maker")
    other = signed_in_client(server.base_url, "other")
    first = maker.post(f"/api/spaces/{space_id}/clips", json={"start": 1, "end": 3}).json()
    second = maker.post(f"/api/spaces/{space_id}/clips", json={"start": 2, "end": 4}).json()
    refused = other.delete(f"/api/clips/{first['id']}")
    assert refused.status_code == 403 and refused.json()["code"] == "not_yours"
    assert other.get(f"/api/clips/{first['id']}").json()["can"] == []
    assert recorded.host.get(f"/api/clips/{first['id']}").json()["can"] == ["delete"]
    assert maker.delete(f"/api/clips/{first['id']}").status_code == 204
    assert recorded.host.delete(f"/api/clips/{second['id']}").status_code == 204
    for clip in (first, second):
        assert httpx.get(clip["page_url"]).status_code == 404
        assert other.get(f"/api/clips/{clip['id']}").status_code == 404
    maker.close()
    other.close()


def test_a_private_spaces_clips_are_for_its_members(server: Server) -> None:
    host = signed_in_client(server.base_url, "privhost")
    space = host.post("/api/spaces", json={"title": "Members only", "private": True}).json()
    assert host.post(f"/api/spaces/{space['id']}/live").status_code == 200
    try:
        clip = None
        for _ in range(40):  # until a segment is recorded
            made = host.post(f"/api/spaces/{space['id']}/clips", json={"last": 5})
            if made.status_code == 201:
                clip = made.json()
                break
            assert made.json()["code"] == "not_recorded", made.text
            time.sleep(0.25)
        assert clip is not None and clip["private"] is True
        assert host.get(clip["audio_url"]).status_code == 200
        outsider = signed_in_client(server.base_url, "outsider")
        assert outsider.get(f"/api/clips/{clip['id']}").status_code == 403
        assert outsider.get(clip["audio_url"]).status_code == 403
        assert outsider.get(f"/api/spaces/{space['id']}/clips").status_code == 403
        assert outsider.post(f"/api/spaces/{space['id']}/clips",
                             json={"last": 5}).status_code == 403
        page = httpx.get(clip["page_url"], headers={"Accept": "text/html"})
        assert page.status_code == 403
        assert "og:audio" not in page.text and "Members only" not in page.text
        outsider.close()
    finally:
        host.post(f"/api/spaces/{space['id']}/end")
    # Its replay downloads only from a signed URL, and is never in the host's feed.
    info = recording_of(host, space["id"])
    assert "/t/" in info["download_url"]
    assert httpx.get(f"{server.base_url}/hls/{space['id']}/replay.m4a").status_code == 403
    assert httpx.get(info["download_url"]).status_code == 200
    username = host.get("/api/me").json()["username"]
    feed = feedparser.parse(httpx.get(f"{server.base_url}/u/{username}/feed.xml").content)
    assert not feed.bozo and feed.entries == []
    host.close()


def _playlist_seconds(client: httpx.Client, space: dict) -> float:
    playlist = client.get(space["replay_url"])
    assert playlist.status_code == 200, playlist.text
    return sum(s.duration for s in m3u8.loads(playlist.text).segments)


def test_trim_then_feed_then_delete(recorded: Recorded, server: Server) -> None:
    host, space = recorded.host, recorded.space
    space_id = space["id"]
    info = recording_of(host, space_id)
    pcm, rate = _full_pcm(info)
    at = switch_time(pcm, rate)
    whole = _playlist_seconds(host, space)
    other = signed_in_client(server.base_url, "nottrimmer")
    refused = other.patch(f"/api/spaces/{space_id}/recording", json={"trim_start": 1})
    assert refused.status_code == 403 and refused.json()["code"] == "not_allowed"
    assert other.delete(f"/api/spaces/{space_id}/recording").status_code == 403
    assert "trim" not in recording_of(other, space_id)["can"]
    other.close()
    bad = host.patch(f"/api/spaces/{space_id}/recording", json={"trim_start": 5, "trim_end": 4})
    assert bad.status_code == 400 and "trim_end" in bad.json()["fields"]

    trimmed = host.patch(f"/api/spaces/{space_id}/recording",
                         json={"trim_start": at - 1.5, "trim_end": at + 1.5})
    assert trimmed.status_code == 200, trimmed.text
    assert abs(trimmed.json()["replay_seconds"] - 3.0) < 0.01
    # The playlist: whole segments (~2 s) around the trim; the download: to the frame.
    assert _playlist_seconds(host, space) < whole - 2
    cut, cut_rate = decode_audio(httpx.get(info["download_url"]).content)
    assert abs(len(cut) / cut_rate - 3.0) <= FRAME + 1e-6
    assert abs(tone_at(cut, cut_rate, 0.1, 1.3) - FIRST_HZ) < 10
    assert abs(tone_at(cut, cut_rate, 1.7, 2.9) - SECOND_HZ) < 10

    # The podcast feed: the episode, its enclosure's true length, duration, transcript.
    (server.data_dir / "recordings" / space_id / "transcript.json").write_text(json.dumps(
        {"final": True, "segments": [{"start": 0, "end": 1, "speaker": "Host", "text": "Hi."}]}))
    username = host.get("/api/me").json()["username"]
    response = httpx.get(f"{server.base_url}/u/{username}/feed.xml")
    assert response.status_code == 200 and "max-age" in response.headers["cache-control"]
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.bozo_exception
    assert feed.feed.title and feed.feed.author and feed.feed.image.href
    assert feed.namespaces.get("itunes") and feed.namespaces.get("podcast")
    [entry] = [e for e in feed.entries if e.title == "Two tones"]
    [enclosure] = entry.enclosures
    download = httpx.get(enclosure.href)
    assert enclosure.type == "audio/mp4" and int(enclosure.length) == len(download.content)
    assert entry.itunes_duration == "0:00:03"
    assert entry.guidislink is False
    assert "podcast:transcript" in response.text and f"/api/spaces/{space_id}/transcript.vtt" in response.text

    # Deleted: the files go, the replay answers 410, the feed forgets it.
    assert host.delete(f"/api/spaces/{space_id}/recording").status_code == 204
    assert not (server.data_dir / "recordings" / space_id).exists()
    gone = recording_of(host, space_id)
    assert gone["status"] == "deleted" and gone["deleted_by"] == "host" and gone["can"] == []
    assert host.get(space["replay_url"]).status_code == 410
    assert httpx.get(info["download_url"]).status_code == 410
    assert host.post(f"/api/spaces/{space_id}/clips", json={"start": 1, "end": 3}).status_code == 410
    # The Space no longer offers a replay (its page says none is available).
    assert host.get(f"/api/spaces/{space_id}").json()["replay_url"] is None
    assert host.get(f"/api/spaces/{space_id}/playback").json()["replay"] is None
    feed = feedparser.parse(httpx.get(f"{server.base_url}/u/{username}/feed.xml").content)
    assert not feed.bozo and feed.entries == []


def test_retention_tells_the_host_then_deletes(tmp_path: Path) -> None:
    """With retention shortened to seconds: the host is told (in the app) before the
    replay goes, the page's date comes with it, and then the files are deleted."""
    day = 86400
    env = {**MANY_SIGNUPS, "TOWNHALL_REPLAY_RETENTION_DAYS": str(8 / day),
           "TOWNHALL_REPLAY_EXPIRY_NOTICE_DAYS": str(4 / day),
           "TOWNHALL_RETENTION_CHECK_EVERY": "0.5"}
    srv = start_server(tmp_path, command="serve", extra_env=env)
    try:
        host = signed_in_client(srv.base_url, "retained")
        space = live_space(host, "Short-lived")
        directory = srv.data_dir / "recordings" / space["id"]
        wait_until(lambda: (directory / "segments.jsonl").exists(), 10)
        ended = host.post(f"/api/spaces/{space['id']}/end").json()
        assert recording_of(host, space["id"])["status"] == "available"

        def told() -> dict | None:
            found = [n for n in host.get("/api/me/notifications").json()["notifications"]
                     if n["kind"] == "expiring"]
            return found[0] if found else None

        notice = wait_until(told, 15)
        assert notice["space_id"] == space["id"] and "will be deleted" in notice["text"]
        info = recording_of(host, space["id"])
        assert info["status"] == "available" and info["expires_at"] is not None
        # Never sooner than the notice period after the notice.
        assert directory.exists()
        wait_until(lambda: recording_of(host, space["id"])["status"] == "deleted", 15)
        info = recording_of(host, space["id"])
        assert info["deleted_by"] == "retention" and not directory.exists()
        assert host.get(ended["replay_url"]).status_code == 410
        host.close()
    finally:
        stop_server(srv)
