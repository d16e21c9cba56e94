"""Issue #5: a hostile flood while a Space is live, and listeners through the edge keep
playing.

A server of its own (`townhall demo` with the default per-client limits, as deployed)
behind the shipped nginx edge. While listeners follow the demo Space through the edge, a
few concurrent clients send a bounded flood (count and time) of bogus joins, fake
beacons, password guesses and invalid API calls, half at the edge and half straight at
the origin. Measured: every listener's largest wait between parts (a stall is a wait
longer than a low-latency player's buffer), answers by status (429s counted), and how
much of the edge's share reached the origin.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from townhall.testing.servers import Server, start_server, stop_server
from townhall import limits
from townhall.tools.clients.hls import HlsReader
from townhall.testing.edge import NginxEdge

# The flood: requests in all, split evenly over the clients; half the clients aim at
# the edge, half at the origin. Bounded in time too.
FLOOD_REQUESTS = 6000
FLOOD_CLIENTS = 6
FLOOD_CONNECTIONS_PER_CLIENT = 8
FLOOD_DEADLINE = 60.0
LISTENERS = 3
# A low-latency player holds about 3 parts (PART-HOLD-BACK 0.77 s): waiting longer than
# this for the next part empties its buffer, a stall.
STALL_GAP = 1.0
# Listeners come from another loopback address than the flood (per-address limits).
LISTENER_ADDRESS = "127.0.0.2"
RESULTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "hostile_load.json"


def flood_requests(space: str) -> Iterator[tuple[str, str, str, dict]]:
    """(kind, method, path, httpx keyword arguments), cycling through the attacks."""
    for n in itertools.count():
        yield from (
            ("join_unknown_space", "GET", f"/hls/nospace{n % 997}/live.m3u8", {}),
            ("join_far_future", "GET", f"/hls/{space}/live.m3u8",
             {"params": {"_HLS_msn": 10**7 + n, "_HLS_part": 0}}),
            ("unknown_part", "GET", f"/hls/{space}/seg{9_000_000 + n}.3.m4s", {}),
            ("fake_beacon", "POST", f"/api/spaces/{space}/beacon",
             {"json": {"session": secrets.token_urlsafe(16)}}),
            ("password_guess", "POST", "/api/auth/signin",
             {"json": {"username": "townhall_demo", "password": f"guess-{n:08d}"}}),
            ("bad_json", "POST", "/api/spaces", {"content": b"{not json",
                                                 "headers": {"Content-Type": "application/json"}}),
            ("unknown_space_api", "GET", f"/api/spaces/zz{n}", {}),
            ("bogus_whip", "POST", f"/whip/{space}",
             {"content": b"v=0\r\n", "headers": {"Content-Type": "application/sdp",
                                                  "Authorization": "Bearer bogus"}}),
        )


@pytest.fixture(scope="module")
def hostile_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A demo server with the default limits (not the session server's raised ones)."""
    server = start_server(tmp_path_factory.mktemp("hostile"))
    yield server
    stop_server(server)
    assert "Traceback" not in server.log(), server.log()[-5000:]


async def _send(client: httpx.AsyncClient, method: str, path: str, kwargs: dict) -> httpx.Response:  # type: ignore[type-arg]
    """One request, sent again once if the server had closed the kept-alive connection it
    went out on, as browsers do. A refusal that answers before reading a request body (a
    429) must close the connection (the body is unread), and the next request on it can
    race that close: "Server disconnected without sending a response" (clean-clone CI run
    L, once in 3,000 origin requests). Anything else still counts as no answer."""
    try:
        return await client.request(method, path, **kwargs)
    except httpx.RemoteProtocolError:
        return await client.request(method, path, **kwargs)


async def flood(targets: list[str], deadline: float) -> Counter[tuple[str, str, int]]:
    """FLOOD_REQUESTS requests from FLOOD_CLIENTS clients; (target, kind, status) counts
    (status 0: no answer)."""
    statuses: Counter[tuple[str, str, int]] = Counter()
    per_client = FLOOD_REQUESTS // FLOOD_CLIENTS

    async def client_run(index: int) -> None:
        base = targets[index % len(targets)]
        target = "edge" if index % len(targets) == 0 else "origin"
        limits = httpx.Limits(max_connections=FLOOD_CONNECTIONS_PER_CLIENT)
        requests = itertools.islice(flood_requests("demo"), index, None)
        async with httpx.AsyncClient(base_url=base, timeout=10, limits=limits) as client:
            queue = list(itertools.islice(requests, per_client))

            async def worker() -> None:
                while queue and time.monotonic() < deadline:
                    kind, method, path, kwargs = queue.pop()
                    try:
                        response = await _send(client, method, path, kwargs)
                        statuses[(target, kind, response.status_code)] += 1
                    except httpx.HTTPError:
                        statuses[(target, kind, 0)] += 1

            await asyncio.gather(*(worker() for _ in range(FLOOD_CONNECTIONS_PER_CLIENT)))

    await asyncio.gather(*(client_run(i) for i in range(FLOOD_CLIENTS)))
    return statuses


async def test_listeners_keep_playing_through_a_hostile_flood(
        hostile_origin: Server, tmp_path: Path) -> None:
    origin = hostile_origin.base_url
    with NginxEdge([origin.removeprefix("http://")], tmp_path / "edge") as edge:
        # Listeners are other people than the flooder: they connect from 127.0.0.2.
        transport = httpx.AsyncHTTPTransport(local_address=LISTENER_ADDRESS)
        async with httpx.AsyncClient(timeout=15, transport=transport) as client:
            readers = [HlsReader(f"{edge.url}/hls/demo/live.m3u8", client)
                       for _ in range(LISTENERS)]
            for reader in readers:
                await reader.start(parts_back=0)
                await reader.read_seconds(1.0, timeout=20)
            stop = asyncio.Event()

            async def listen(reader: HlsReader) -> None:
                while not stop.is_set():
                    await reader.read_next()

            listening = [asyncio.create_task(listen(r)) for r in readers]
            since_log = edge.log_offset()
            started = time.time()
            t0 = time.monotonic()
            statuses = await flood([edge.url, origin], t0 + FLOOD_DEADLINE)
            flood_seconds = time.monotonic() - t0
            # A few parts after the flood, so what it did at the end is heard too.
            counts = [len(r.parts) for r in readers]
            end = time.monotonic() + 10
            while any(len(r.parts) < n + 4 for r, n in zip(readers, counts)) and \
                    time.monotonic() < end:
                await asyncio.sleep(0.05)
            stop.set()
            await asyncio.gather(*listening)
        edge_sent = sum(n for (t, _, _), n in statuses.items() if t == "edge")
        flooded = [e for e in edge.log_entries(since_log) if e.client != LISTENER_ADDRESS]
        reached_origin = sum(e.origin_requests for e in flooded)
        api_sent = sum(1 for e in flooded if not e.uri.startswith("/hls/"))
        api_reached = sum(e.origin_requests for e in flooded if not e.uri.startswith("/hls/"))

    gaps = []
    for reader in readers:
        times = [p.fetched_at for p in reader.parts if p.fetched_at >= started]
        gaps.append(max(b - a for a, b in zip(times, times[1:])))
    sent = sum(statuses.values())
    by_status: Counter[str] = Counter()
    for (target, _, status), n in statuses.items():
        by_status[f"{target} {status}"] += n
    by_kind = {f"{t} {k} {s}": n for (t, k, s), n in sorted(statuses.items())}
    summary = {
        "flood_requests": sent, "flood_seconds": round(flood_seconds, 2),
        "flood_rate_per_s": round(sent / flood_seconds),
        "edge_share_sent": edge_sent, "edge_share_reached_origin": reached_origin,
        "edge_api_whip_sent": api_sent, "edge_api_whip_reached_origin": api_reached,
        "answers": dict(sorted(by_status.items())), "answers_by_kind": by_kind,
        "listeners": LISTENERS, "largest_part_gap_s": [round(g, 3) for g in gaps],
        "stalls": sum(g > STALL_GAP for g in gaps),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))

    assert sent == FLOOD_REQUESTS, summary  # the whole bounded flood was sent
    assert not any(s == 0 or s >= 500 for (_, _, s) in statuses), summary
    assert summary["stalls"] == 0 and max(gaps) < STALL_GAP, summary
    # The edge cut most of its API/WHIP share before it cost the origin anything (HLS is
    # not limited per address: many listeners share one; junk names stop at the edge,
    # unknown Spaces and far-future positions get the origin's cheap 404/400).
    assert by_status["edge 429"] > 0 and api_reached < api_sent / 2, summary
    # And what they heard is continuous audio: every part, no gap in the timestamps.
    pcm, frames = readers[0].decode()
    steps = np.diff([pts for pts, _ in frames])
    assert (steps == limits.AAC_FRAME_SAMPLES).all() and np.abs(pcm).max() > 3000
    # The origin's own limits hold for what came straight at it.
    assert statuses[("origin", "password_guess", 429)] > 0, summary


def test_signing_in_as_the_demo_host_is_a_wrong_password(server: Server) -> None:
    """The demo host's password hash is deliberately unusable: a 401, not a 500 (found
    by the flood above)."""
    response = httpx.post(f"{server.base_url}/api/auth/signin", timeout=10,
                          json={"username": "townhall_demo", "password": "any password"})
    assert response.status_code == 401, response.text
