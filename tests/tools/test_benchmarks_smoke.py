"""The benchmarks' own load generators against the session's demo server, so the scale
benchmarks built on them cannot silently rot: the wrk LL-HLS listener generator
(benchmarks/_wrk.py + ll_hls_listener.lua), whose players must follow the live edge, one
part per part duration each; and the edge join storm's raw (h11) joins."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from benchmarks._wrk import ListenerResult, parse_output, probe_stream, run_listeners
from benchmarks.edge_join_storm import RawJoinStorm, _request, _response
from townhall.tools.bench.common import HttpStatusError
from townhall.testing.servers import Server


@pytest.fixture
def wrk() -> str:
    """The benchmarks need wrk: a machine without it fails here, it is never skipped."""
    path = shutil.which("wrk")
    if path is None:
        pytest.fail("wrk is not installed: run `make setup` (apt-get install wrk)")
    return path


PLAYERS = 8
SECONDS = 4.0


def test_wrk_players_follow_the_live_edge(server: Server, wrk: str) -> None:
    stream = probe_stream(f"{server.base_url}/hls/demo/live.m3u8")
    assert stream.parts_per_segment == 8 and stream.part_samples == 12288
    before = stream.position()
    result = run_listeners(stream, PLAYERS, SECONDS)
    after = stream.position()

    assert result.errors == 0 and result.unknown == 0, result
    assert result.reload_timeouts == 0, result
    # ~3.9 parts/s at 0.256 s per part; one startup part more or less per player.
    rate = result.parts_per_connection_per_second
    assert 3.0 <= rate <= 4.6, rate
    # Two requests per part: the blocking reload and the part.
    assert abs(result.requests - 2 * result.parts) <= 2 * PLAYERS, result
    # The players held the parts the stream was making while they ran, not old ones...
    assert result.max_index >= after - 2 and result.min_index >= before - 4, (result, before, after)
    # ...and within a hold-back of their capture (loopback, idle server: ~0.1 s).
    assert result.age_percentile(50) < stream.hold_back, result.age_hist
    assert result.cpu_seconds < SECONDS


def test_wrk_summary_is_parsed() -> None:
    out = """Running 4s test @ http://127.0.0.1:1/hls/demo/
  2 threads and 8 connections
  126 requests in 4.01s, 255.20KB read
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:     31.42
LLHLS_RESULT {"errors": 0, "unknown": 0, "late": 1, "age_sum": 3.5, "part_bytes": 1, \
"parts": 63, "playlists": 63, "reload_timeouts": 0, "min_index": 5, "max_index": 20, \
"age_hist_10ms": {"3": 60, "90": 3}}
"""
    result = parse_output(out, ListenerResult(connections=8, threads=2, duration=4))
    assert (result.requests, result.parts, result.duration) == (126, 63, 4.01)
    assert result.bytes_read == int(255.20 * 1024)
    assert result.errors == 1 and result.reload_timeouts == 2
    assert result.age_percentile(50) == pytest.approx(0.035)
    assert result.age_percentile(100) == pytest.approx(0.905)


def test_wrk_segment_players_get_one_segment_per_segment_duration(server: Server, wrk: str) -> None:
    stream = probe_stream(f"{server.base_url}/hls/demo/live.m3u8")
    result = run_listeners(stream, 4, 5.0, mode="segments")
    assert result.errors == 0 and result.unknown == 0 and result.reload_timeouts == 0, result
    # One segment (2.048 s) at start, then one per 2.048 s: 2 or 3 each in 5 s.
    assert 2 * 4 <= result.parts <= 4 * 4, result
    assert abs(result.requests - 2 * result.parts) <= 2 * 4, result
    assert result.age_percentile(50) < 2.048, result.age_hist


async def test_raw_joins_all_join_like_the_httpx_storm(server: Server) -> None:
    storm = RawJoinStorm(f"{server.base_url}/hls/demo/live.m3u8", count=50, within=1)
    result = await storm.run()
    assert result["success_rate"] == 1.0 and result["errors"] == {}, result["errors"]
    assert result["requests"] == 3 * 50  # playlist, then init and first part pipelined
    assert result["ttfa_s"]["p99"] < 2.0


async def test_raw_join_responses_are_framed_by_h11() -> None:
    reader = asyncio.StreamReader()
    exchanges = [_request("h", f"/{i}")[0] for i in range(4)]
    reader.feed_data(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    assert await _response(exchanges[0], reader) == b"hello"
    # The pipelined ones: each reads on from where the one before stopped (here nothing
    # was left over, then everything came at once).
    reader.feed_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"
                     b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
                     b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\ncut")
    reader.feed_eof()
    assert await _response(exchanges[1], reader, after=exchanges[0]) == b"abcde"
    with pytest.raises(HttpStatusError):
        await _response(exchanges[2], reader, after=exchanges[1])
    with pytest.raises(ConnectionError):
        await _response(exchanges[3], reader, after=exchanges[2])


def test_raw_join_requests_are_http_1_1_gets() -> None:
    _, data = _request("127.0.0.1:8080", "/hls/demo/live.m3u8", close=True)
    head = data.decode().split("\r\n")
    assert head[0] == "GET /hls/demo/live.m3u8 HTTP/1.1"
    assert {"host: 127.0.0.1:8080", "connection: close"} <= {h.lower() for h in head[1:]}
