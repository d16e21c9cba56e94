"""Live captions end to end, by content: a speaker publishes known sentences (espeak-ng)
over WHIP to a real server; the live `caption` events carry the words, labelled with the
speaker's name; the WebVTT rendition (subs.m3u8 + segments, fetched over HTTP) has them
at the times they were spoken; after the Space the final transcript downloads as
.json/.vtt/.srt/.txt. One server and one captioned Space for the module (loading the
model costs a second or two)."""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import m3u8
import numpy as np
import pytest

from townhall.testing.servers import MANY_SIGNUPS, Server, live_space, signed_in_client, stage, start_server, stop_server
from townhall.testing.waiting import wait_until
from townhall.testing.speech import RATE, SENTENCES, Utterance, espeak, wer, with_pauses, words
from townhall.testing.sse import EventStream
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher

import faster_whisper  # noqa: E402,F401  (make setup installs it: missing, this fails)
if shutil.which("espeak-ng") is None:  # never a silent skip: make setup installs it
    pytest.fail("espeak-ng is missing: run `make setup`", pytrace=False)

# Loose: espeak-ng's voice is not a person's, and live captions decode greedily.
MAX_WER = 0.35
SPOKEN = SENTENCES[:3]
CUE_TIME_SLACK = 1.5  # seconds between when a sentence was sent and its cue's start


@pytest.fixture(scope="module")
def captioned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("captions"), "serve",
                       extra_env={**MANY_SIGNUPS, "TOWNHALL_CAPTIONS": "true",
                                  "TOWNHALL_CAPTIONS_MAX_SPACES": "1"})
    yield srv
    stop_server(srv)
    assert "Traceback" not in srv.log(), srv.log()[-5000:]


def _track(pcm: np.ndarray) -> SyntheticTrack:
    def samples(start: int, count: int) -> np.ndarray:
        chunk = pcm[start:start + count]
        return np.pad(chunk, (0, count - len(chunk))) if len(chunk) < count else chunk

    return SyntheticTrack(samples)


async def test_live_captions_vtt_and_transcript(captioned: Server) -> None:
    base = captioned.base_url
    host = signed_in_client(base, "speaker")
    me = host.get("/api/me").json()
    renamed = host.patch(f"/api/users/{me['username']}", json={"display_name": "Ada Speaker"})
    assert renamed.status_code == 200, renamed.text
    name = "Ada Speaker"
    space = host.post("/api/spaces", json={"title": "Captions"}).json()
    space_id = space["id"]
    assert host.post(f"/api/spaces/{space_id}/live").status_code == 200
    state = host.get(f"/api/spaces/{space_id}/captions").json()
    assert state["on"] and state["running"], state
    assert "captions" in host.get(f"/api/spaces/{space_id}").json()["you"]["can"]

    pcm, spans = with_pauses([Utterance(t, espeak(t)) for t in SPOKEN])
    track = _track(pcm)
    sent_at: dict[int, float] = {}
    track.on_frame = lambda sample, wall: sent_at.setdefault(sample, wall)
    creds = stage(host, space_id)
    publisher = WhipPublisher(creds["whip_url"], creds["token"], track)
    hls = httpx.AsyncClient(base_url=f"{base}/hls/{space_id}/", timeout=20)
    vtt: dict[str, str] = {}  # every subtitle segment seen while on air
    collecting = asyncio.create_task(_collect_vtt(hls, vtt))
    async with EventStream(f"{base}/api/spaces/{space_id}/events") as events:  # anonymous
        await publisher.start()
        try:
            deadline = time.monotonic() + len(pcm) / RATE + 25
            while time.monotonic() < deadline:
                finals = [m for m in events.of("caption") if m["final"]]
                if len(" ".join(m["text"] for m in finals).split()) >= \
                        0.8 * len(words(" ".join(SPOKEN))) and time.monotonic() > \
                        deadline - 20:
                    break
                await asyncio.sleep(0.5)
        finally:
            await publisher.stop()
        captions = events.of("caption")
    finals = [m for m in captions if m["final"]]
    heard = " ".join(m["text"] for m in finals)
    assert wer(" ".join(SPOKEN), heard) <= MAX_WER, (heard, captions)
    assert {m["speaker"] for m in finals} == {name}
    assert {m["speaker_id"] for m in finals} == {me["id"]}
    assert any(not m["final"] for m in captions), "partials while speaking"
    assert max(m["delay"] for m in finals) < 10

    # The WebVTT rendition: a multivariant playlist naming it, its playlist and segments
    # (a cue is out ~6 s after its words were captioned).
    master = m3u8.loads((await hls.get("master.m3u8")).text)
    (subs,) = [m for m in master.media if m.type == "SUBTITLES"]
    assert (subs.uri, subs.language, subs.default) == ("subs.m3u8", "en", "YES")
    assert master.playlists[0].uri == "live.m3u8"
    deadline = time.monotonic() + 20
    while len(_cues(vtt)) < len(finals) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    collecting.cancel()
    await hls.aclose()
    cues = _cues(vtt)
    vtt_words = " ".join(text for *_, text in cues)
    assert wer(" ".join(SPOKEN), vtt_words) <= MAX_WER, (cues, vtt)
    assert {speaker for _, _, _, speaker, _ in cues} == {name}
    # Each sentence's cue starts when the sentence was sent (the audio's own timeline).
    for start, end, text in spans:
        sent = sent_at[int(start * RATE) // 960 * 960]
        best = min(cues, key=lambda c: wer(text, c[4]))
        assert abs(best[0].timestamp() - sent) <= CUE_TIME_SLACK, (text, best, sent)

    # After the Space: the final pass's transcript in every format.
    assert host.post(f"/api/spaces/{space_id}/end").status_code == 200
    transcript = _wait_final(host, space_id)
    text = " ".join(s["text"] for s in transcript["segments"])
    assert wer(" ".join(SPOKEN), text) <= MAX_WER, transcript
    assert {s["speaker"] for s in transcript["segments"]} == {name}
    replay = m3u8.loads(host.get(f"/hls/{space_id}/replay.m3u8").text)
    length = sum(s.duration for s in replay.segments)
    assert all(0 <= s["start"] < s["end"] <= length + 1 for s in transcript["segments"])
    for fmt, marker in (("vtt", "WEBVTT"), ("srt", " --> "), ("txt", f"{name}: ")):
        got = host.get(f"/api/spaces/{space_id}/transcript.{fmt}")
        assert got.status_code == 200 and marker in got.text
        # The words, without the format's own (WEBVTT, numbers, times, the name's label).
        said = got.text.replace(f"<v {name}>", " ").replace(f"{name}:", " ").replace("WEBVTT", " ")
        said = " ".join(w for w in said.split() if not re.search(r"\d|-->", w))
        assert wer(" ".join(SPOKEN), said) <= MAX_WER, got.text
    # Its words are searchable: a word only the transcript has finds the Space.
    heard = {w.lower().strip(".,") for w in text.split()}
    word = max((w for w in words(" ".join(SPOKEN)) if w in heard and len(w) > 5), key=len)

    def found() -> dict | None:
        hits = host.get("/api/search", params={"q": word}).json()["spaces"]
        return next((h for h in hits if h["space"]["id"] == space_id), None)

    hit = wait_until(found, f"the Space found by {word!r}", timeout=30)
    assert "<mark>" in hit["highlight"]["transcript"], hit


async def _collect_vtt(hls: httpx.AsyncClient, into: dict[str, str]) -> None:
    """Every subtitle segment as the subtitles playlist lists it, by name (with its
    wall-clock origin worked out), until cancelled."""
    while True:
        playlist = m3u8.loads((await hls.get("subs.m3u8")).text)
        for offset, segment in enumerate(playlist.segments):
            if segment.uri in into:
                continue
            text = (await hls.get(segment.uri)).text
            assert text.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n"), text
            # A fresh Space: audio sample 0 began segment 0, and every segment before
            # this one was whole, so the audio timeline's 0 was this long before.
            msn = playlist.media_sequence + offset
            origin = segment.program_date_time - timedelta(seconds=msn * segment.duration)
            into[segment.uri] = f"{origin.isoformat()}\n{text}"
        await asyncio.sleep(1)


def _cues(vtt: dict[str, str]) -> list[tuple[datetime, float, float, str, str]]:
    """(wall time of the cue's start, start, end, speaker, text) of every cue seen."""
    cues = []
    for stored in vtt.values():
        origin_text, text = stored.split("\n", 1)
        origin = datetime.fromisoformat(origin_text)
        for start, end, speaker, said in re.findall(
                r"(\d+:\d+:\d+\.\d+) --> (\d+:\d+:\d+\.\d+)\n<v ([^>]+)>(.*)", text):
            s, e = _seconds(start), _seconds(end)
            cues.append((origin + timedelta(seconds=s), s, e, speaker, said))
    return sorted(cues)


def _seconds(stamp: str) -> float:
    h, m, s = stamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def _wait_final(client: httpx.Client, space_id: str, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = client.get(f"/api/spaces/{space_id}/transcript.json")
        if got.status_code == 200 and got.json()["final"]:
            return got.json()  # type: ignore[no-any-return]
        time.sleep(1)
    raise AssertionError(f"no final transcript: {got.status_code} {got.text[:500]}")



def test_a_node_at_its_cap_says_so_then_captions_when_a_place_frees(captioned: Server) -> None:
    """TOWNHALL_CAPTIONS_MAX_SPACES is 1 here: a second captioned Space is not captioned
    and its host is told why, in words; when the first ends, the second is captioned."""
    base = captioned.base_url
    first, second = (signed_in_client(base, p) for p in ("capfirst", "capsecond"))
    one = live_space(first, "Has the place")
    two = live_space(second, "Waits for a place")
    assert first.get(f"/api/spaces/{one['id']}/captions").json()["running"] is True
    waiting = second.get(f"/api/spaces/{two['id']}/captions").json()
    assert waiting["on"] is True and waiting["running"] is False, waiting
    assert "as many Spaces as it can (1)" in waiting["reason"], waiting
    assert first.post(f"/api/spaces/{one['id']}/end").status_code == 200
    wait_until(lambda: second.get(f"/api/spaces/{two['id']}/captions").json()["running"],
               "the waiting Space captioned", timeout=30)
    assert second.get(f"/api/spaces/{two['id']}/captions").json()["reason"] is None
    assert second.post(f"/api/spaces/{two['id']}/end").status_code == 200
    first.close()
    second.close()
