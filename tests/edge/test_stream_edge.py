"""The one-stream listener path through the shipped nginx edge with Nchan: the origin
mixing the demo Space publishes each chunk to the edge (TOWNHALL_STREAM_EDGES), and
listeners' streams come from the edge alone, byte for byte the Space's parts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from townhall import limits
from townhall.backends.stream_edges import PUBLISH_PATH, StreamEdges
from townhall.media import listen_stream
from townhall.media.llhls import part_name
from townhall.testing.edge import NginxEdge
from townhall.testing.servers import Server, free_port, start_server, stop_server
from townhall.tools.clients.hls import decode_fmp4

CHUNK_SECONDS = (listen_stream.CHUNK_PARTS * limits.AAC_FRAMES_PER_PART
                 * limits.AAC_FRAME_SAMPLES / limits.SAMPLE_RATE)
LISTENERS = 20
STREAM = "/hls/demo/" + listen_stream.STREAM_NAME


@pytest.fixture(scope="module")
def origin_and_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, NginxEdge]]:
    port = free_port()
    server = start_server(tmp_path_factory.mktemp("stream-origin"),
                          extra_env={"TOWNHALL_STREAM_EDGES": f"http://127.0.0.1:{port}"})
    try:
        with NginxEdge([server.base_url.removeprefix("http://")],
                       tmp_path_factory.mktemp("stream-edge"), port=port) as edge:
            yield server, edge
    finally:
        stop_server(server)
    assert "Traceback" not in server.log(), server.log()[-5000:]


async def _listen(client: httpx.AsyncClient, url: str, seconds: float) -> list[tuple[float, bytes]]:
    """(arrival time, bytes) of each read of the stream for about `seconds`."""
    reads: list[tuple[float, bytes]] = []
    async with client.stream("GET", url) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["cache-control"] == "no-store"
        async for data in response.aiter_raw():
            reads.append((time.monotonic(), data))
            if reads[-1][0] - reads[0][0] >= seconds:
                break
    return reads


async def test_listeners_get_the_spaces_parts_from_the_edge_alone_as_they_are_made(
        origin_and_edge: tuple[Server, NginxEdge]) -> None:
    server, edge = origin_and_edge
    since = edge.log_offset()
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100)) as client:
        started = time.monotonic()
        streams = await asyncio.gather(*(_listen(client, edge.url + STREAM, 3 * CHUNK_SECONDS)
                                         for _ in range(LISTENERS)))
        # Every listener got the chunks the edge keeps at once: audio without waiting.
        assert max(reads[0][0] - started for reads in streams) < CHUNK_SECONDS, "first bytes late"
        bodies = [b"".join(data for _, data in reads) for reads in streams]
        init = (await client.get(server.base_url + "/hls/demo/init.mp4")).content
        # Byte for byte the Space's parts in order, from a chunk's first part.
        for body in bodies:
            msn, index = _first_part(server, body)
            assert index % listen_stream.CHUNK_PARTS == 0, (msn, index)
            assert body == await _parts_from(client, server, msn, index, len(body))
        body = max(bodies, key=len)
        pcm, _ = decode_fmp4(init + body)
        assert np.sqrt(np.mean(pcm.astype(np.float64) ** 2)) > 100, "the demo's tune is audible"
        # Chunk after chunk, about a chunk apart (not all at once at the end).
        arrivals = [when for when, _ in streams[0]]
        assert len(arrivals) >= 3 and any(b - a > CHUNK_SECONDS / 2
                                          for a, b in zip(arrivals, arrivals[1:])), arrivals
    # No listener's stream reached the origin: only the edge's authorisation checks.
    entries = [e for e in edge.log_entries(since) if listen_stream.STREAM_NAME in e.uri]
    assert len(entries) == LISTENERS and all(e.origin_requests == 0 for e in entries), entries


async def _parts_from(client: httpx.AsyncClient, server: Server, msn: int, index: int,
                      length: int) -> bytes:
    """The Space's parts from (msn, index) on, at least `length` bytes of them."""
    parts = b""
    while len(parts) < length:
        response = await client.get(f"{server.base_url}/hls/demo/{part_name(msn, index)}")
        assert response.status_code == 200, (msn, index)
        parts += response.content
        msn, index = (msn, index + 1) if index + 1 < limits.PARTS_PER_SEGMENT else (msn + 1, 0)
    return parts[:length]


def _first_part(server: Server, body: bytes) -> tuple[int, int]:
    newest = httpx.get(server.base_url + "/hls/demo/live.m3u8", timeout=10).text
    last_msn = max(int(line.split(":")[1]) for line in newest.splitlines()
                   if line.startswith("#EXT-X-MEDIA-SEQUENCE"))
    for msn in range(last_msn, last_msn + 8):
        for index in range(limits.PARTS_PER_SEGMENT):
            part = httpx.get(f"{server.base_url}/hls/demo/{part_name(msn, index)}", timeout=10)
            if part.status_code == 200 and body.startswith(part.content):
                return msn, index
    raise AssertionError("the stream does not start with a part of the live window")


def test_a_space_that_is_not_live_gets_no_stream_and_only_origins_publish(
        origin_and_edge: tuple[Server, NginxEdge]) -> None:
    _, edge = origin_and_edge
    response = httpx.get(edge.url + "/hls/nosuchspace/" + listen_stream.STREAM_NAME, timeout=10)
    assert response.status_code == 403, response.status_code
    # A signed URL's token is checked by an origin before the edge subscribes anyone.
    forged = httpx.get(f"{edge.url}/hls/demo/t/1999999999.{'A' * 22}/{listen_stream.STREAM_NAME}",
                       timeout=10)
    assert forged.status_code == 403, forged.status_code
    # The edge listens on 127.0.0.1; a publisher from another address is refused.
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as stranger:
        refused = stranger.post(edge.url + PUBLISH_PATH + "demo", content=b"not audio", timeout=10)
    assert refused.status_code == 403


async def test_the_end_of_a_space_ends_its_listeners_streams_at_the_edge(
        origin_and_edge: tuple[Server, NginxEdge]) -> None:
    _, edge = origin_and_edge
    publisher = StreamEdges([edge.url])
    publisher.start()
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            async with client.stream("GET", edge.url + STREAM) as response:
                assert response.status_code == 200
                reader = response.aiter_raw()
                await anext(reader)  # the newest chunk: the stream is open
                publisher.end("demo")
                ended = time.monotonic()
                with pytest.raises(StopAsyncIteration):
                    while True:
                        await asyncio.wait_for(anext(reader), 5)
                assert time.monotonic() - ended < 5
    finally:
        await publisher.close()
