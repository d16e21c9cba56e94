"""The nginx edge (issue #4): real nginx with the shipped config in front of the session's
`townhall demo` origin."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import m3u8
import numpy as np
import pytest

from townhall.testing.servers import REPO_ROOT, Server, free_port, signed_in_client
from townhall.testing.audio import dominant_frequency, rms
from townhall.testing.waiting import wait_until
from tests.edge.edge_helpers import StubOrigin, edge, origin_of  # noqa: F401 (fixture)
from townhall import limits
from townhall.tools.clients.hls import HlsReader, decode_fmp4
from townhall.edge import render_nginx_config
from townhall.testing.edge import NginxEdge
from townhall.media.llhls import part_name
from townhall.media.sources import DEMO_TUNE

DEMO = "/hls/demo/live.m3u8"
PARTS_PER_SEGMENT = 8
CONCURRENT_LISTENERS = 50


def listed_parts(text: str) -> list[tuple[int, int]]:
    """(msn, part index) of every part a playlist lists, oldest first."""
    playlist = m3u8.loads(text)
    return [(playlist.media_sequence + offset, index)
            for offset, segment in enumerate(playlist.segments)
            for index, _ in enumerate(segment.parts)]


def after(position: tuple[int, int]) -> tuple[int, int]:
    msn, part = position
    return (msn, part + 1) if part + 1 < PARTS_PER_SEGMENT else (msn + 1, 0)


def test_example_config_is_the_rendered_config() -> None:
    committed = (REPO_ROOT / "deploy/nginx/townhall.conf").read_text()
    assert committed == render_nginx_config(["127.0.0.1:8081", "127.0.0.1:8082"]), (
        "deploy/nginx/townhall.conf is stale: regenerate it with `townhall edge-config "
        "--origin 127.0.0.1:8081 --origin 127.0.0.1:8082 > deploy/nginx/townhall.conf`")


def test_playlist_and_parts_come_through_the_edge(server: Server, edge: NginxEdge) -> None:
    response = httpx.get(edge.url + DEMO, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert response.headers["cache-control"] == "public, max-age=1"  # the origin's
    playlist = m3u8.loads(response.text)
    assert playlist.segment_map and playlist.segments[-1].parts
    for uri in (playlist.segment_map[0].uri, playlist.segments[-1].parts[0].uri):
        via_edge = httpx.get(f"{edge.url}/hls/demo/{uri}", timeout=10)
        direct = httpx.get(f"{server.base_url}/hls/demo/{uri}", timeout=10)
        assert via_edge.status_code == 200 and via_edge.content == direct.content
        assert "immutable" in via_edge.headers["cache-control"]


def test_a_media_object_is_a_miss_then_a_hit(server: Server, edge: NginxEdge) -> None:
    fetched = {e.uri for e in edge.log_entries()}

    def fresh() -> list[str]:  # parts nobody fetched through the edge yet (the next one, at worst)
        playlist = m3u8.loads(httpx.get(server.base_url + DEMO, timeout=10).text)
        return [p.uri for s in playlist.segments for p in s.parts
                if f"/hls/demo/{p.uri}" not in fetched]

    uri = wait_until(fresh, "a part not fetched through the edge yet", 5, interval=0.05)[0]
    since = edge.log_offset()
    first = httpx.get(f"{edge.url}/hls/demo/{uri}", timeout=10)
    second = httpx.get(f"{edge.url}/hls/demo/{uri}?cache-buster=1", timeout=10)
    assert first.headers["x-cache-status"] == "MISS"
    assert second.headers["x-cache-status"] == "HIT"
    assert first.content == second.content and first.status_code == 200
    assert edge.upstream_requests(since, f"/hls/demo/{uri}", expect_logged=2) == 1


async def test_concurrent_blocking_reloads_are_one_origin_request(
        server: Server, edge: NginxEdge) -> None:
    """Many listeners waiting for the same next part cost the origin one request, and each
    gets the playlist with that part within the cache-lock timeout of it existing."""
    async with httpx.AsyncClient(timeout=15, limits=httpx.Limits(max_connections=100)) as client:
        text = (await client.get(server.base_url + DEMO)).text
        # Wait (at the origin) for the next part, so the target below is one part away.
        now = after(listed_parts(text)[-1])
        await client.get(server.base_url + DEMO,
                         params={"_HLS_msn": now[0], "_HLS_part": now[1]})
        target = after(now)
        params = {"_HLS_msn": target[0], "_HLS_part": target[1]}
        since = edge.log_offset()

        async def listener() -> tuple[httpx.Response, float]:
            response = await client.get(edge.url + DEMO, params=params)
            return response, time.monotonic()

        results = await asyncio.gather(*(listener() for _ in range(CONCURRENT_LISTENERS)))
    responses = [r for r, _ in results]
    assert [r.status_code for r in responses] == [200] * CONCURRENT_LISTENERS
    assert all(target in listed_parts(r.text) for r in responses)
    assert len({r.text for r in responses}) == 1  # one cached answer
    assert edge.upstream_requests(since, DEMO, expect_logged=CONCURRENT_LISTENERS) == 1
    statuses = sorted(r.headers["x-cache-status"] for r in responses)
    assert statuses.count("MISS") == 1 and statuses.count("HIT") == CONCURRENT_LISTENERS - 1
    # Everyone has it within the lock timeout (0.3 s) of the first answer, plus slack.
    done = sorted(t for _, t in results)
    assert done[-1] - done[0] < 0.6, done[-1] - done[0]


def test_not_found_answers_are_not_cached(server: Server, edge: NginxEdge) -> None:
    since = edge.log_offset()
    for _ in range(3):
        missing = httpx.get(f"{edge.url}/hls/demo/seg99999999.m4s", timeout=10)
        assert missing.status_code == 404 and missing.headers["x-cache-status"] != "HIT"
        not_live = httpx.get(f"{edge.url}/hls/nosuchspace/live.m3u8", timeout=10)
        assert not_live.status_code == 404 and not_live.headers["x-cache-status"] != "HIT"
    assert edge.upstream_requests(since, "/hls/", expect_logged=6) == 6
    # Names the origin never makes are answered by the edge itself.
    since = edge.log_offset()
    for junk in ("/hls/demo/x.m4s", "/hls/demo/seg1.m4s.bak", "/hls/demo/seg123456789.m4s",
                 "/hls/a%2Fb/live.m3u8", "/hls/demo/live.m3u8/x"):
        response = httpx.get(edge.url + junk, timeout=10)
        assert response.status_code in (400, 404), (junk, response.status_code)
    assert edge.upstream_requests(since, "/", expect_logged=4) == 0
    # A signed URL (private Spaces: the token is a path segment) reaches the origin, which
    # refuses a bad signature; the refusal is not cached.
    signed = f"/hls/demo/t/{int(time.time()) + 3600}.{'A' * 22}/live.m3u8"
    since = edge.log_offset()
    for _ in range(2):
        assert httpx.get(edge.url + signed, timeout=10).status_code == 403
    assert edge.upstream_requests(since, "/hls/demo/t/", expect_logged=2) == 2


def test_signed_urls_are_cached_by_path(server: Server, edge: NginxEdge) -> None:
    """A signed URL (private Spaces; a public Space takes one too) plays through the edge,
    and its objects are cached under their signed path."""
    from townhall.http.delivery.signed import SECRET_FILE, UrlSigner

    bogus = f"/hls/demo/t/{int(time.time()) + 3600}.{'A' * 22}/live.m3u8"
    assert httpx.get(edge.url + bogus, timeout=10).status_code == 403  # makes the secret
    secret = (server.data_dir / SECRET_FILE).read_text().strip().encode()
    token, _ = UrlSigner(secret).token("demo", time.time())
    base = f"{edge.url}/hls/demo/t/{token}"
    playlist = httpx.get(f"{base}/live.m3u8", timeout=10)
    assert playlist.status_code == 200, playlist.text
    uri = next(p.uri for seg in m3u8.loads(playlist.text).segments for p in seg.parts)
    first, again = (httpx.get(f"{base}/{uri}", timeout=10) for _ in range(2))
    assert first.status_code == 200 and again.headers["x-cache-status"] == "HIT"
    assert first.content == httpx.get(f"{server.base_url}/hls/demo/{uri}", timeout=10).content


def test_errors_are_not_cached_even_if_the_origin_says_so(tmp_path: Path) -> None:
    """The edge caches only 200s: a 404 or 503 that an origin wrongly marks cacheable
    still goes to the origin every time."""
    cacheable = {"Cache-Control": "public, max-age=60"}
    routes = {
        "/hls/s/live.m3u8": (503, {**cacheable, "Retry-After": "1"}, b"not yet"),
        "/hls/s/seg5.1.m4s": (404, cacheable, b"no such part"),
        "/hls/s/seg5.0.m4s": (200, cacheable, b"part"),
    }
    with StubOrigin(routes) as stub, NginxEdge([stub.address], tmp_path) as edge_:
        for _ in range(3):
            for path, (status, _, _) in routes.items():
                assert httpx.get(edge_.url + path, timeout=10).status_code == status
    assert stub.hits["/hls/s/live.m3u8"] == 3
    assert stub.hits["/hls/s/seg5.1.m4s"] == 3
    assert stub.hits["/hls/s/seg5.0.m4s"] == 1  # and a 200 is cached (the test can fail)


def test_a_stalled_space_does_not_take_origins_out(tmp_path: Path) -> None:
    """HLS 503s ("the part did not come in time", the same on every origin) are passed on
    as they are: not retried on another origin, not counted as origin failures."""
    routes = {"/hls/s/live.m3u8": (503, {"Cache-Control": "no-store"}, b"not in time"),
              "/api/x": (200, {}, b"{}")}
    with StubOrigin(routes) as a, StubOrigin(routes) as b, \
            NginxEdge([a.address, b.address], tmp_path) as edge_:
        for _ in range(6):
            response = httpx.get(edge_.url + "/hls/s/live.m3u8", params={"_HLS_msn": 1},
                                 timeout=10)
            assert response.status_code == 503
        assert a.hits["/hls/s/live.m3u8"] + b.hits["/hls/s/live.m3u8"] == 6
        assert [httpx.get(edge_.url + "/api/x", timeout=10).status_code
                for _ in range(4)] == [200] * 4


def test_a_dead_origin_is_skipped_for_gets_and_posts(server: Server, tmp_path: Path) -> None:
    """A refused connection moves the request to the next origin, POSTs (sign-in, WHIP
    offers) included: they were never sent, so nothing can happen twice."""
    dead = f"127.0.0.1:{free_port()}"
    for order, origins in enumerate(([dead, origin_of(server)], [origin_of(server), dead])):
        with NginxEdge(origins, tmp_path / str(order)) as edge_:
            for _ in range(4):
                signin = httpx.post(edge_.url + "/api/auth/signin", timeout=10,
                                    json={"username": "nobody_here", "password": "wrong password"})
                assert signin.status_code == 401, signin.text
                whip = httpx.post(edge_.url + "/whip/demo", content=b"v=0\r\n", timeout=10,
                                  headers={"Content-Type": "application/sdp",
                                           "Authorization": "Bearer not-a-token"})
                assert whip.status_code == 401, whip.text
                assert httpx.get(edge_.url + DEMO, timeout=10).status_code == 200
            tried = [e.origins for e in edge_.log_entries()]
            assert any(dead in o for o in tried) or order == 1  # hash may never pick it
            assert all(o[-1] == origin_of(server) for o in tried if o)


async def test_live_events_stream_through_the_edge_unbuffered(
        server: Server, edge: NginxEdge) -> None:
    fan = signed_in_client(server.base_url, "edgefan")
    emoji = "🔥"
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=10)) as client:
            async with client.stream("GET", f"{edge.url}/api/spaces/demo/events") as stream:
                assert stream.status_code == 200
                assert stream.headers["content-type"].startswith("text/event-stream")
                lines = stream.aiter_lines()
                event = ""
                async with asyncio.timeout(5):
                    async for line in lines:
                        if line.startswith("event: snapshot"):
                            break
                sent = time.monotonic()
                reacted = await asyncio.to_thread(
                    fan.post, "/api/spaces/demo/reactions", json={"emoji": emoji})
                assert reacted.status_code == 202, reacted.text
                async with asyncio.timeout(5):
                    async for line in lines:
                        if line.startswith("event: "):
                            event = line.removeprefix("event: ")
                        elif event == "reaction" and line.startswith("data: "):
                            data = json.loads(line.removeprefix("data: "))
                            if data["emoji"] == emoji and data["user"] == fan.get(
                                    "/api/me").json()["username"]:
                                break
                latency = time.monotonic() - sent
    finally:
        fan.close()
    assert latency < 1.0, latency


async def test_a_listener_through_the_edge_hears_the_demo(server: Server, edge: NginxEdge) -> None:
    async with httpx.AsyncClient() as client:
        reader = HlsReader(edge.url + DEMO, client)
        await reader.start(parts_back=2)
        await reader.read_seconds(3.0, timeout=20)
        # Byte for byte what the origin serves.
        for part in reader.parts[:3]:
            direct = await client.get(f"{server.base_url}/hls/demo/{part.uri}")
            assert direct.content == part.data
    pcm, frames = reader.decode()
    pts = np.array([f[0] for f in frames])
    assert (np.diff(pts) == limits.AAC_FRAME_SAMPLES).all(), "gaps or overlaps"
    assert pcm.shape[0] >= 3.0 * limits.SAMPLE_RATE * 0.9
    # The demo tune's notes are in it: dominant frequencies of 100 ms windows that are
    # loud lie near a note of the tune.
    notes = [f for f, _ in DEMO_TUNE if f]
    window = limits.SAMPLE_RATE // 10
    heard = []
    for start in range(0, pcm.shape[0] - window, window):
        chunk = pcm[start:start + window]
        if rms(chunk) < 1000 / 32768:
            continue
        heard.append(dominant_frequency(chunk))
    assert len(heard) >= 5, "mostly silence"
    assert all(min(abs(h - n) for n in notes) < 20 for h in heard), heard


def test_static_files_are_cached_and_metrics_are_not_public(edge: NginxEdge) -> None:
    for path in ("/static/player.js", "/vendor/hls.min.js"):
        first = httpx.get(edge.url + path, timeout=10)
        assert first.status_code == 200, (path, first.text[:200])
        again = httpx.get(edge.url + path, timeout=10)
        assert again.headers["x-cache-status"] == "HIT" and again.content == first.content
    assert httpx.get(edge.url + "/metrics", timeout=10).status_code == 200  # loopback
    elsewhere = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    with elsewhere:
        assert elsewhere.get(edge.url + "/metrics", timeout=10).status_code == 403
        assert elsewhere.get(edge.url + DEMO, timeout=10).status_code == 200


def test_avatars_upload_through_the_edge_and_are_cached(server: Server,
                                                       edge: NginxEdge) -> None:
    import io

    from PIL import Image

    client = signed_in_client(edge.url, "edgeface")
    try:
        name = client.get("/api/me").json()["username"]
        url = f"/api/users/{name}/avatar"
        png = {"Content-Type": "image/png"}
        # Too large for an origin, not for the edge: the origin's own sentence comes back.
        too_big = client.put(url, content=b"\x00" * (limits.MAX_AVATAR_BYTES + 1), headers=png)
        assert too_big.status_code == 413, too_big.text
        assert too_big.json()["code"] == "payload_too_large"
        photo = io.BytesIO()
        Image.new("RGB", (400, 300), (10, 120, 200)).save(photo, "PNG")
        first = client.put(url, content=photo.getvalue(), headers=png)
        assert first.status_code == 200, first.text
        face = first.json()["avatar_url"]
        one = httpx.get(edge.url + face, timeout=10)
        two = httpx.get(edge.url + face, timeout=10)
        assert one.status_code == two.status_code == 200
        assert two.headers["x-cache-status"] == "HIT" and two.content == one.content
        assert Image.open(io.BytesIO(two.content)).size == (limits.AVATAR_SIZE,) * 2
        # Replaced: a URL means one image for good (the cached one still answers), and
        # an old URL the edge never had redirects to the new face, never cached.
        old_small = first.json()["avatar_small_url"]
        photo = io.BytesIO()
        Image.new("RGB", (300, 300), (200, 20, 20)).save(photo, "PNG")
        newer = client.put(url, content=photo.getvalue(), headers=png).json()
        assert httpx.get(edge.url + face, timeout=10).content == one.content
        for _ in range(2):
            moved = httpx.get(edge.url + old_small, timeout=10)
            assert moved.status_code == 307, moved.text
            assert moved.headers["location"] == newer["avatar_small_url"]
            assert moved.headers.get("x-cache-status") != "HIT"
    finally:
        client.close()


def test_edge_config_command_prints_the_config(capsys: pytest.CaptureFixture[str]) -> None:
    from townhall.cli import main

    main(["edge-config", "--origin", "10.0.0.1:8080", "--origin", "10.0.0.2:8080",
          "--listen", "0.0.0.0:80"])
    out = capsys.readouterr().out
    assert out == render_nginx_config(["10.0.0.1:8080", "10.0.0.2:8080"], "0.0.0.0:80")
    assert "server 10.0.0.2:8080" in out and "listen 0.0.0.0:80" in out


def test_pids_and_cpu_are_measurable(edge: NginxEdge) -> None:
    pids = edge.pids()
    assert pids[0] == edge.process.pid and len(pids) >= 2  # master + worker(s)
    assert edge.cpu_seconds() >= 0
    assert part_name(1, 2) == "seg1.2.m4s"  # the names the log counts are made of
