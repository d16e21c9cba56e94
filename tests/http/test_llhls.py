"""LL-HLS conformance of the live playlist, against the running demo Space."""

from __future__ import annotations

import asyncio
import time

import httpx
import m3u8
import numpy as np

from townhall.testing.servers import Server
from townhall.tools.clients.hls import HlsReader, decode_fmp4
from townhall import limits

PART_SAMPLES = limits.AAC_FRAMES_PER_PART * limits.AAC_FRAME_SAMPLES


def demo_url(server: Server) -> str:
    return f"{server.base_url}/hls/demo/live.m3u8"


def playlist_with_a_segment(server: Server) -> httpx.Response:
    """The live playlist once its first segment is complete (a blocking reload)."""
    first = m3u8.loads(httpx.get(demo_url(server), timeout=10).text).media_sequence
    response = httpx.get(demo_url(server), params={"_HLS_msn": first}, timeout=10)
    assert response.status_code == 200, response.text
    return response


def test_live_playlist_parses_and_declares_low_latency(server: Server) -> None:
    response = httpx.get(demo_url(server))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert response.headers["cache-control"] == "public, max-age=1"
    playlist = m3u8.loads(response.text)
    assert playlist.server_control.can_block_reload == "YES"
    part_target = playlist.part_inf.part_target
    assert 0.25 <= part_target <= 0.5
    assert playlist.server_control.part_hold_back >= 2 * part_target
    assert playlist.preload_hint is not None and playlist.preload_hint.hint_type == "PART"
    parts = [p for s in playlist.segments for p in s.parts]
    assert parts, response.text
    assert all(p.duration <= part_target for p in parts)
    playlist = m3u8.loads(playlist_with_a_segment(server).text)
    complete = [s for s in playlist.segments if s.uri]
    assert complete
    assert all(round(s.duration) <= playlist.target_duration for s in complete)
    assert all(1.5 <= s.duration <= 2.5 for s in complete)  # ~2 s segments


def test_media_objects_are_immutable_for_caches(server: Server) -> None:
    playlist = m3u8.loads(playlist_with_a_segment(server).text)
    segment = next(s for s in reversed(playlist.segments) if s.uri and s.parts)
    for uri in (playlist.segment_map[0].uri, segment.uri, segment.parts[0].uri):
        response = httpx.get(f"{server.base_url}/hls/demo/{uri}")
        assert response.status_code == 200
        assert "immutable" in response.headers["cache-control"]
    missing = httpx.get(f"{server.base_url}/hls/demo/seg99999999.m4s")
    assert missing.status_code == 404
    assert missing.headers["cache-control"] == "no-store"


async def test_blocking_reload_returns_when_the_next_part_exists(server: Server) -> None:
    async with httpx.AsyncClient() as client:
        playlist = m3u8.loads((await client.get(demo_url(server))).text)
        hint = playlist.preload_hint.uri  # the next part, not yet in the playlist
        msn, part = (int(x) for x in hint.removeprefix("seg").removesuffix(".m4s").split("."))
        assert not any(p.uri == hint for s in playlist.segments for p in s.parts)
        started = time.monotonic()
        response = await client.get(demo_url(server), params={"_HLS_msn": msn, "_HLS_part": part})
        waited = time.monotonic() - started
        assert response.status_code == 200
        blocked = m3u8.loads(response.text)
        assert any(p.uri == hint for s in blocked.segments for p in s.parts)
        # It waited for the part to be made (< one part + slack), not a timeout.
        assert waited < 2.0
        # The part itself is there now.
        assert (await client.get(f"{server.base_url}/hls/demo/{hint}")).status_code == 200


async def test_preload_hinted_part_is_held_until_it_exists(server: Server) -> None:
    async with httpx.AsyncClient() as client:
        playlist = m3u8.loads((await client.get(demo_url(server))).text)
        hint = playlist.preload_hint.uri
        response = await client.get(f"{server.base_url}/hls/demo/{hint}")
        assert response.status_code == 200
        pcm, frames = decode_fmp4(
            (await client.get(f"{server.base_url}/hls/demo/init.mp4")).content + response.content
        )
        assert len(frames) == limits.AAC_FRAMES_PER_PART


async def test_too_far_ahead_is_a_client_error(server: Server) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(demo_url(server), params={"_HLS_msn": 10**7, "_HLS_part": 0})
        assert response.status_code == 400
        assert "too far ahead" in response.text
        response = await client.get(demo_url(server), params={"_HLS_part": 1})
        assert response.status_code == 400
        response = await client.get(demo_url(server), params={"_HLS_msn": "x"})
        assert response.status_code == 422


async def test_timestamps_are_continuous_across_parts_and_segments(server: Server) -> None:
    async with httpx.AsyncClient() as client:
        reader = HlsReader(demo_url(server), client)
        await reader.start(parts_back=2)
        # More than one segment, so the read crosses a segment boundary.
        await reader.read_seconds(2 * 2.048 + 0.5, timeout=20)
    uris = [p.uri for p in reader.parts]
    segments = {u.split(".")[0] for u in uris}
    assert len(segments) >= 2, uris
    pcm, frames = reader.decode()
    pts = np.array([f[0] for f in frames])
    steps = np.diff(pts)
    assert (steps == limits.AAC_FRAME_SAMPLES).all(), f"gaps or overlaps at {np.nonzero(steps - 1024)}"
    assert pts.shape[0] == sum(len(decode_fmp4(reader.init + p.data)[1]) for p in reader.parts)
    # Each part starts where the previous ended.
    starts = [decode_fmp4(reader.init + p.data)[1][0][0] for p in reader.parts]
    assert all(b - a == PART_SAMPLES for a, b in zip(starts, starts[1:])), starts
    # And the demo voice is actually in it (not silence).
    assert np.abs(pcm).max() > 3000


async def test_whole_segment_equals_its_parts(server: Server) -> None:
    async with httpx.AsyncClient() as client:
        playlist = m3u8.loads(playlist_with_a_segment(server).text)
        segment = next(s for s in reversed(playlist.segments) if s.uri and s.parts)
        whole = (await client.get(f"{server.base_url}/hls/demo/{segment.uri}")).content
        parts = await asyncio.gather(
            *(client.get(f"{server.base_url}/hls/demo/{p.uri}") for p in segment.parts)
        )
        assert whole == b"".join(p.content for p in parts)
