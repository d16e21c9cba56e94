"""The LL-DASH origin (townhall/http/delivery/dash.py) against the running demo Space:
the manifest, DASH segments equal to the LL-HLS segments they are made of, streamed
while they are made, and clear refusals."""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import httpx
import m3u8
import numpy as np

from townhall import limits
from townhall.backends.memory.segments import MemorySegmentStore
from townhall.http.delivery.dash import _stream
from townhall.media import dash
from townhall.media.fmp4 import FragmentSplitter
from townhall.media.llhls import Position
from townhall.media.segment_store import PlaylistSnapshot
from townhall.testing.servers import Server
from townhall.tools.clients.hls import decode_fmp4

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


def base(server: Server) -> str:
    return f"{server.base_url}/hls/demo/"


def current_run(client: httpx.Client, server: Server) -> tuple[int, float]:
    """(the newest run's first msn, its start in seconds since the epoch)."""
    response = client.get(base(server) + dash.MANIFEST_NAME)
    assert response.status_code == 200, response.text
    period = ET.fromstring(response.text).findall("d:Period", NS)[-1]
    first = int(re.fullmatch(r"run-(\d+)", period.get("id"))[1])
    return first, float(period.get("start").removeprefix("PT").removesuffix("S"))


def newest_msn(client: httpx.Client, server: Server) -> int:
    playlist = m3u8.loads(client.get(base(server) + "live.m3u8").text)
    return playlist.media_sequence + len(playlist.segments) - 1


def fragments(data: bytes, init: bytes) -> list:
    splitter = FragmentSplitter()
    splitter.feed(init)
    return splitter.feed(data)


def test_the_manifest_is_dynamic_cacheable_for_a_second_and_names_the_live_run(server: Server) -> None:
    with httpx.Client(timeout=15) as client:
        response = client.get(base(server) + dash.MANIFEST_NAME)
        assert response.headers["content-type"] == "application/dash+xml"
        assert response.headers["cache-control"] == "public, max-age=1"
        first, start = current_run(client, server)
        # The DASH segment the clock says is live holds the newest HLS segment.
        by_clock = int((datetime.now(UTC).timestamp() - start) // dash.SEGMENT_SECONDS)
        by_playlist = dash.number_of(first, newest_msn(client, server))
        assert abs(by_clock - by_playlist) <= 1, (by_clock, by_playlist)


def test_a_finished_dash_segment_is_its_hls_segments_with_the_timeline_the_manifest_says(
        server: Server) -> None:
    with httpx.Client(timeout=30) as client:
        first, _ = current_run(client, server)
        number = dash.number_of(first, newest_msn(client, server)) - 1
        while number < 0:  # the demo has just started: wait for a finished segment
            client.get(base(server) + "live.m3u8",
                       params={"_HLS_msn": first + dash.HLS_SEGMENTS_PER_SEGMENT})
            number = dash.number_of(first, newest_msn(client, server)) - 1
        response = client.get(base(server) + dash.segment_file(first, number))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "audio/mp4"
        assert "immutable" in response.headers["cache-control"]
        hls = [client.get(base(server) + piece.segment) for piece in dash.pieces(first, number)]
        assert all(r.status_code == 200 for r in hls)
        assert response.content == b"".join(r.content for r in hls)
        init = client.get(base(server) + "init.mp4").content
        found = fragments(response.content, init)
        assert len(found) == dash.PARTS_PER_SEGMENT
        # Media time = number x segment duration: where the MPD's template puts it.
        assert [f.base_decode_time for f in found] == [
            number * dash.SEGMENT_SAMPLES + i * dash.PART_SAMPLES for i in range(len(found))]
        pcm, _ = decode_fmp4(init + response.content)
        assert abs(len(pcm) - dash.SEGMENT_SAMPLES) <= 2 * limits.AAC_FRAME_SAMPLES
        assert np.sqrt(np.mean(pcm.astype(np.float64) ** 2)) > 100, "the demo's tune is audible"


async def test_the_next_segment_streams_while_it_is_made(server: Server) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        with httpx.Client(timeout=15) as sync:
            first, _ = current_run(sync, server)
            number = dash.number_of(first, newest_msn(sync, server)) + 1
        url = base(server) + dash.segment_file(first, number)
        body = b""
        progress = []  # (bytes so far, newest HLS msn when they came)
        async with client.stream("GET", url) as response:
            assert response.status_code == 200
            assert response.headers.get("transfer-encoding") == "chunked"
            async for data in response.aiter_raw():
                body += data
                playlist = m3u8.loads((await client.get(base(server) + "live.m3u8")).text)
                progress.append((len(body), playlist.media_sequence + len(playlist.segments) - 1))
        pieces = dash.pieces(first, number)
        # Bytes came before the segment's last HLS segment was even begun, in several steps.
        assert progress[0][1] < pieces[-1].msn, progress
        assert len(progress) >= dash.PARTS_PER_SEGMENT // limits.DASH_PARTS_PER_CHUNK // 2, progress
        hls = [await client.get(base(server) + piece.segment) for piece in pieces]
        assert body == b"".join(r.content for r in hls)


def test_refusals_are_clear_and_never_cached(server: Server) -> None:
    with httpx.Client(timeout=15) as client:
        first, _ = current_run(client, server)
        number = dash.number_of(first, newest_msn(client, server))
        for name, words in ((dash.segment_file(first, number + 5), "too far ahead"),
                            (dash.segment_file(first + 1, 0), "not available")):
            response = client.get(base(server) + name)
            assert response.status_code == 404, (name, response.text)
            assert words in response.text, (name, response.text)
            assert response.headers["cache-control"] == "no-store"
        junk = client.get(base(server) + "d01-1.m4s")
        assert junk.status_code == 404 and "no such HLS object" in junk.text


def test_the_clock_is_now_and_never_cached(server: Server) -> None:
    response = httpx.get(f"{server.base_url}{dash.CLOCK_PATH}", timeout=10)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    told = datetime.fromisoformat(response.text.replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - told).total_seconds()) < 2


async def test_a_run_taken_over_ends_its_segment_where_its_parts_end() -> None:
    """A node died inside a DASH segment: the next run starts at the following HLS
    segment. The stream hands on what the old run made and ends cleanly (no wait)."""
    store = MemorySegmentStore()
    space = "s1"
    pieces = dash.pieces(0, 0)
    await store.put(space, dash.RUNS_NAME, dash.dump_runs([dash.Run(0, datetime.now(UTC))]))
    for index in range(3):
        await store.put(space, pieces[0].parts[index], b"part%d" % index)
    await store.set_playlist(space, PlaylistSnapshot("", Position(0, 2), False))
    received: list[bytes] = []

    async def read() -> None:
        async for chunk in _stream(store, space, 0, pieces, [None] * len(pieces)):
            received.append(chunk)

    reader = asyncio.create_task(read())
    await asyncio.sleep(0)
    await store.put(space, pieces[0].parts[3], b"part3")
    await store.set_playlist(space, PlaylistSnapshot("", Position(0, 3), False))
    # The old run dies after part 4 of 8; another run goes on from HLS segment 1.
    await store.put(space, pieces[0].parts[4], b"part4")
    await store.set_playlist(space, PlaylistSnapshot("", Position(1, 0), False, 1))
    await asyncio.wait_for(reader, 5)
    assert received == [b"part0part1part2part3", b"part4"]


async def test_a_segment_of_a_run_taken_over_never_carries_the_next_runs_audio() -> None:
    """The old run made its HLS segment 0 whole and died; the run that took over starts
    at HLS segment 1 and writes the very names (seg1.0.m4s, ...) the old run's DASH
    segment was waiting for. The stream ends with the old run's audio."""
    store = MemorySegmentStore()
    space = "s2"
    pieces = dash.pieces(0, 0)
    started = datetime.now(UTC)
    await store.put(space, dash.RUNS_NAME, dash.dump_runs([dash.Run(0, started)]))
    for index, name in enumerate(pieces[0].parts):
        await store.put(space, name, b"old%d" % index)
    await store.set_playlist(space, PlaylistSnapshot("", Position(0, 7), False))
    received: list[bytes] = []
    reader = asyncio.create_task(_collect(store, space, pieces, received))
    while len(received) < 2:  # the old run's two chunks are out: it waits for seg1.0
        await asyncio.sleep(0)
    await store.put(space, dash.RUNS_NAME,
                    dash.dump_runs([dash.Run(0, started), dash.Run(1, datetime.now(UTC))]))
    await store.put(space, pieces[1].parts[0], b"NEW RUN")
    await store.set_playlist(space, PlaylistSnapshot("", Position(1, 0), False, 1))
    await asyncio.wait_for(reader, 5)
    assert b"NEW RUN" not in b"".join(received)
    assert b"".join(received) == b"".join(b"old%d" % i for i in range(8))


async def _collect(store: MemorySegmentStore, space: str, pieces: list,  # type: ignore[type-arg]
                   into: list[bytes]) -> None:
    async for chunk in _stream(store, space, 0, pieces, [None] * len(pieces)):
        into.append(chunk)
