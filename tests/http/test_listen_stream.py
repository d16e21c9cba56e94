"""The one-stream listener path at the origin (townhall/http/delivery/stream.py): one
response for the whole Space, the very CMAF fragments of the LL-HLS parts, a chunk at a
time as they are made, going on across a run that ended short, ending with the Space."""

from __future__ import annotations

import asyncio
import time

import httpx
import m3u8
import numpy as np

from townhall import limits
from townhall.backends.memory.segments import MemorySegmentStore
from townhall.http.delivery.stream import _chunks
from townhall.media import listen_stream
from townhall.media.llhls import Position, part_name
from townhall.media.segment_store import PlaylistSnapshot
from townhall.testing.servers import Server
from townhall.tools.clients.hls import decode_fmp4

CHUNK_SECONDS = listen_stream.CHUNK_PARTS * limits.AAC_FRAMES_PER_PART * limits.AAC_FRAME_SAMPLES / limits.SAMPLE_RATE


def base(server: Server) -> str:
    return f"{server.base_url}/hls/demo/"


async def test_the_stream_is_the_spaces_parts_a_chunk_at_a_time_as_they_are_made(
        server: Server) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        arrivals: list[tuple[float, int]] = []  # (when, bytes so far)
        body = b""
        async with client.stream("GET", base(server) + listen_stream.STREAM_NAME) as response:
            assert response.status_code == 200, await response.aread()
            assert response.headers["content-type"] == listen_stream.STREAM_TYPE
            assert response.headers["cache-control"] == "no-store"
            async for data in response.aiter_raw():
                body += data
                arrivals.append((time.monotonic(), len(body)))
                if arrivals[-1][0] - arrivals[0][0] > 3 * CHUNK_SECONDS:
                    break
        playlist = m3u8.loads((await client.get(base(server) + "live.m3u8")).text)
        init = (await client.get(base(server) + "init.mp4")).content
        # The body is whole parts of the playlist, in order: find where it starts.
        parts = [(p.uri, (await client.get(base(server) + p.uri)).content)
                 for segment in playlist.segments for p in segment.parts]
        starts = [i for i, (_, data) in enumerate(parts) if body.startswith(data)]
        assert starts, "the stream starts with a part of the live playlist"
        joined = b""
        for _, data in parts[starts[0]:]:
            if len(joined) >= len(body):
                break
            joined += data
        assert body == joined[:len(body)]
        # It starts on a chunk boundary and comes in steps about a chunk apart.
        first_index = int(parts[starts[0]][0].rsplit(".", 2)[1])
        assert first_index % listen_stream.CHUNK_PARTS == 0, parts[starts[0]][0]
        gaps = np.diff([when for when, _ in arrivals])
        assert len(arrivals) >= 3 and max(gaps) < 2 * CHUNK_SECONDS, gaps
        assert any(gap > CHUNK_SECONDS / 2 for gap in gaps), "chunks come as they are made"
        pcm, _ = decode_fmp4(init + body)
        assert len(pcm) >= 2 * CHUNK_SECONDS * limits.SAMPLE_RATE
        assert np.sqrt(np.mean(pcm.astype(np.float64) ** 2)) > 100, "the demo's tune is audible"


def test_the_edge_may_ask_whether_a_url_plays(server: Server) -> None:
    response = httpx.get(base(server) + listen_stream.ACCESS_NAME, timeout=10)
    assert response.status_code == 204
    assert response.headers["cache-control"] == "no-store"
    gone = httpx.get(f"{server.base_url}/hls/nosuchspace/{listen_stream.ACCESS_NAME}", timeout=10)
    assert gone.status_code == 403 and "not live" in gone.text


async def _publish(store: MemorySegmentStore, space: str, msn: int, index: int,
                   ended: bool = False) -> None:
    await store.put(space, part_name(msn, index), b"<%d.%d>" % (msn, index))
    await store.set_playlist(space, PlaylistSnapshot("", Position(msn, index), ended))


async def test_a_run_that_ended_short_goes_on_into_the_next_and_the_space_ending_ends_it() -> None:
    """A run died after part 5 of segment 0; the run that took over starts at segment 1.
    The listener's one stream carries on with it: no reconnect, nothing of either lost."""
    store = MemorySegmentStore()
    space = "s1"
    for index in range(6):  # joined while part 5 was the newest: starts at part 4
        await _publish(store, space, 0, index)
    snapshot = await store.playlist(space)
    received: list[bytes] = []

    async def read() -> None:
        async for chunk in _chunks(store, space, snapshot):
            received.append(chunk)

    reader = asyncio.create_task(read())
    for index in range(5):
        await asyncio.sleep(0.01)
        await _publish(store, space, 1, index, ended=index == 4)
    await asyncio.wait_for(reader, 5)
    assert received == [b"<0.4><0.5>", b"<1.0><1.1><1.2><1.3>", b"<1.4>"]
