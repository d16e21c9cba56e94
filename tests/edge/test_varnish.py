"""The LL-DASH edge (issue #16): real Varnish with the shipped VCL in front of the
session's `townhall demo` origin. One origin request per DASH segment, whatever the
audience, and every listener gets each chunk while the origin is still sending it."""

from __future__ import annotations

import asyncio
import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import m3u8
import pytest

from townhall.edge.varnish import render_varnish_config, varnish_parameters
from townhall.media import dash
from townhall.testing.servers import REPO_ROOT, Server
from townhall.testing.varnish import VARNISHD, VarnishEdge

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
LISTENERS = 40
COMMITTED_ORIGINS = ["127.0.0.1:8081", "127.0.0.1:8082"]


@pytest.fixture(scope="module")
def varnish(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VarnishEdge]:
    origin = server.base_url.removeprefix("http://").rstrip("/")
    with VarnishEdge([origin], tmp_path_factory.mktemp("varnish")) as edge:
        yield edge


def test_example_vcl_is_the_rendered_vcl_and_compiles(tmp_path: Path) -> None:
    committed = (REPO_ROOT / "deploy/varnish/townhall.vcl").read_text()
    expected = (render_varnish_config(COMMITTED_ORIGINS)
                + f"# varnishd parameters: {' '.join(varnish_parameters())}\n")
    assert committed == expected, (
        "deploy/varnish/townhall.vcl is stale: regenerate it with `townhall edge-config "
        "--varnish --origin 127.0.0.1:8081 --origin 127.0.0.1:8082 > deploy/varnish/townhall.vcl`")
    compiled = subprocess.run([VARNISHD, "-C", "-n", str(tmp_path / "n"), "-f",
                               str(REPO_ROOT / "deploy/varnish/townhall.vcl")],
                              capture_output=True, text=True, timeout=60)
    assert compiled.returncode == 0, compiled.stderr[-2000:]


def live_run(client: httpx.Client, url: str) -> int:
    response = client.get(f"{url}/hls/demo/{dash.MANIFEST_NAME}")
    assert response.status_code == 200, response.text
    period = ET.fromstring(response.text).findall("d:Period", NS)[-1]
    return int(re.fullmatch(r"run-(\d+)", period.get("id"))[1])


def live_number(client: httpx.Client, url: str, first: int) -> int:
    playlist = m3u8.loads(client.get(f"{url}/hls/demo/live.m3u8").text)
    return dash.number_of(first, playlist.media_sequence + len(playlist.segments) - 1)


def wait_for_part(client: httpx.Client, server: Server, msn: int) -> None:
    """Until part 0 of HLS segment `msn` exists (blocking reloads, one segment at a time:
    the origin refuses to block for a position far ahead)."""
    url = f"{server.base_url}/hls/demo/live.m3u8"
    while True:
        playlist = m3u8.loads(client.get(url).text)
        newest = playlist.media_sequence + len(playlist.segments) - 1
        if newest >= msn:
            return
        response = client.get(url, params={"_HLS_msn": newest + 1, "_HLS_part": 0})
        assert response.status_code == 200, response.text


async def test_many_listeners_of_a_segment_in_the_making_are_one_origin_request(
        server: Server, varnish: VarnishEdge) -> None:
    with httpx.Client(timeout=15) as client:
        first = live_run(client, varnish.url)
        # Just as a DASH segment starts (a blocking reload for its first part), ask for
        # the one after: its first chunk is a segment and a chunk away (the earliest a
        # player with a fast clock asks), longer than the edge waits between bytes.
        starting = live_number(client, server.base_url, first) + 1
        wait_for_part(client, server, dash.pieces(first, starting)[0].msn)
        number = starting + 1
    name = dash.segment_file(first, number)
    before = varnish.origin_requests()

    async def listen(client: httpx.AsyncClient) -> tuple[bytes, str, int]:
        body, pieces = b"", 0
        async with client.stream("GET", f"{varnish.url}/hls/demo/{name}") as response:
            assert response.status_code == 200
            async for data in response.aiter_raw():
                body += data
                pieces += 1
        return body, response.headers.get("x-cache", ""), pieces

    pool = httpx.Limits(max_connections=LISTENERS + 5)
    async with httpx.AsyncClient(timeout=40, limits=pool) as client:
        results = await asyncio.gather(*(listen(client) for _ in range(LISTENERS)),
                                       return_exceptions=True)
        origin = (await client.get(f"{server.base_url}/hls/demo/{name}")).content
    failed = [repr(r) for r in results if isinstance(r, BaseException)]
    counters = varnish.counters()
    assert not failed, (failed[:3], {k: v for k, v in counters.items()
                                     if "fail" in k or "timeout" in k or "backend_" in k})
    after = counters.get("MAIN.backend_req", 0)
    bodies = {body for body, _, _ in results}
    assert bodies == {origin}, "every listener gets the origin's segment, byte for byte"
    assert len(origin) > 0
    # One request reached the origin for all of them (the manifest read is the other).
    assert after - before <= 2, (before, after)
    assert sum(cache == "HIT" for _, cache, _ in results) >= LISTENERS - 1
    # Streamed: each listener got the segment in several pieces as it was made, not once
    # it was whole.
    pieces = [count for _, _, count in results]
    assert min(pieces) >= dash.PARTS_PER_SEGMENT // 8, pieces


def test_cookies_do_not_split_the_cache_and_refusals_are_not_kept(
        server: Server, varnish: VarnishEdge) -> None:
    with httpx.Client(timeout=15) as client:
        first = live_run(client, varnish.url)
        number = live_number(client, server.base_url, first) - 1
        name = f"/hls/demo/{dash.segment_file(first, number)}"
        plain = client.get(varnish.url + name)
        with_cookie = client.get(varnish.url + name, headers={"Cookie": "townhall_session=x"})
        assert plain.status_code == with_cookie.status_code == 200
        assert with_cookie.headers["x-cache"] == "HIT" and plain.content == with_cookie.content
        ahead = f"/hls/demo/{dash.segment_file(first, number + 10)}"
        refused = client.get(varnish.url + ahead)
        assert refused.status_code == 404 and refused.headers["cache-control"] == "no-store"
        assert client.get(varnish.url + ahead).headers["x-cache"] == "MISS"
        # The clock is the edge's own, now, never cached, and costs the origin nothing.
        before = varnish.origin_requests()
        for _ in range(3):
            clock = client.get(f"{varnish.url}{dash.CLOCK_PATH}")
            assert clock.status_code == 200 and clock.headers["cache-control"] == "no-store"
            told = datetime.fromisoformat(clock.text.replace("Z", "+00:00"))
            assert abs((datetime.now(UTC) - told).total_seconds()) < 1, clock.text
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", clock.text)
        assert varnish.origin_requests() == before
        # Pages pass to the origin, uncached.
        assert client.get(f"{varnish.url}/s/demo").headers["x-cache"] == "MISS"
        assert client.get(f"{varnish.url}/s/demo").headers["x-cache"] == "MISS"
