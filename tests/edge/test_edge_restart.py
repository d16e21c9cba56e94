"""The nginx edge restarting under listeners (issue "Hardening, round two"): a config
reload, then a hard restart on the same port, while a listener follows the demo Space's
live HLS through the edge the way a player does (a failed request is retried).

What must hold: across a reload the listener does not stall (old workers finish what
they serve); after a hard restart it plays again within 5 s, by itself, and hears the
demo voice's audio (not silence)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from townhall.testing.edge import NginxEdge
from townhall.testing.servers import Server, largest_gap_since, start_server, stop_server
from townhall.testing.waiting import wait_until_async
from townhall.tools.clients.hls import HlsReader

RESUME_WITHIN = 5.0  # seconds, after a hard restart
STALL_GAP = 1.5  # a reload may not cost a low-latency player more than this
# A player that gets an error (the edge going away) tries again this soon.
PLAYER_RETRY = 0.1


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[Server]:
    (tmp_path / "origin").mkdir()
    server = start_server(tmp_path / "origin", command="demo")
    yield server
    stop_server(server)


async def follow(reader: HlsReader, stop: asyncio.Event) -> None:
    """Keep reading like a player: errors while the edge is away are retried."""
    while not stop.is_set():
        try:
            await reader.read_next()
        except (httpx.TransportError, httpx.HTTPStatusError):
            await asyncio.sleep(PLAYER_RETRY)


async def hear(reader: HlsReader, seconds: float, timeout: float = 20) -> None:
    until = time.time() + seconds
    await wait_until_async(lambda: bool(reader.parts) and reader.parts[-1].fetched_at >= until,
                           timeout=seconds + timeout, interval=0.1,
                           what="the listener to hear on through the edge")


async def test_listeners_ride_out_an_edge_reload_and_resume_after_a_restart(
        origin: Server, tmp_path: Path) -> None:
    with NginxEdge([origin.base_url.removeprefix("http://")], tmp_path / "edge") as edge:
        async with httpx.AsyncClient() as client:
            reader = HlsReader(f"{edge.url}/hls/demo/live.m3u8", client)
            await reader.start(parts_back=0)
            stop = asyncio.Event()
            player = asyncio.create_task(follow(reader, stop))
            try:
                await hear(reader, 2.0)
                reloaded = time.time()
                await asyncio.to_thread(edge.reload)
                await hear(reader, 3.0)
                assert largest_gap_since(reader, reloaded - 1) < STALL_GAP

                before = len(reader.parts)
                await asyncio.to_thread(edge.restart)
                restarted = time.time()
                await wait_until_async(lambda: len(reader.parts) > before + 2,
                                       timeout=RESUME_WITHIN + 10, interval=0.05,
                                       what="the listener to play again after the restart")
                resumed = reader.parts[before + 2].fetched_at
                assert resumed - restarted < RESUME_WITHIN, resumed - restarted
                await hear(reader, 2.0)
            finally:
                stop.set()
                await player
    # What came after the restart is the demo voice, not silence.
    pcm, _ = HlsReader.decode(reader)
    tail = pcm[-48000:].astype(np.float64) / 32768
    assert np.sqrt(np.mean(tail ** 2)) > 0.01
