"""A join storm through the nginx edge, and the same storm straight at the origin.

    .venv/bin/python -m benchmarks.edge_join_storm [--count 10000] [--within 10]

Starts `townhall demo` (the origin) and an nginx edge (townhall.edge.NginxEdge, the
shipped config, one worker) in front of it, then `--count` listeners join within
`--within` seconds through the edge (townhall/tools/bench/join_storm.py: playlist, init, first
part, a new connection per join; over plain asyncio connections by default, see
RawJoinStorm), split over `--processes` generator processes that start together. Reports success rate, time to first audio, the origin requests the
storm caused (from the edge's access log) and CPU of the edge and the origin; then the
same storm at the origin directly, for the ratio. Progress: one line per generator
process per second; every storm is bounded by JoinStorm's own timeouts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import h11
import httpx

from benchmarks._common import Deadline, log, print_table, running_server
from townhall.testing import cpu
from townhall.testing.edge import NginxEdge
from townhall.tools.bench.common import HttpStatusError, percentile
from townhall.tools.bench.join_storm import JoinStorm, join_targets
from townhall.tools.bench.playlist import PlaylistError, parse

DEFAULT_COUNT = 10_000
DEFAULT_WITHIN = 10.0
# Generator processes that share the storm (with --generator httpx one process makes
# only ~500 fresh-connection joins/s on one of these cores: BENCHMARKS.md section 4).
DEFAULT_PROCESSES = 2
# Seconds the generator processes get to start before the storm begins together.
START_DELAY = 3.0
# The whole benchmark (two storms, start-up, warm-up) must end within this.
TOTAL_BUDGET = 300.0
# Parts the demo playlist must list before the storm (a player starts 3 parts back).
WARM_PARTS = 4
# What a raw join asks its socket for at a time.
READ_BYTES = 65536


class RawJoinStorm(JoinStorm):
    """townhall/tools/bench/join_storm.py's storm (same schedule, statistics and progress) with
    each join made over a plain asyncio connection instead of httpx: a join costs the
    generator under half the CPU (about 0.9 ms, h11's framing included; httpx about
    2 ms), so one process can start nearly 1,000 joins/s and the figures show the
    server, not the generator. A join is the same three requests on a
    new connection: the playlist, then the init segment and the first part (pipelined,
    as a player fetches them together), the last with `Connection: close`. h11 frames
    the HTTP/1.1 messages."""

    async def _first_audio(self, client: object) -> None:
        target = urlsplit(self.url)
        reader, writer = await asyncio.open_connection(target.hostname, target.port)
        try:
            self.requests += 1
            playlist, data = _request(target.netloc, target.path)
            writer.write(data)
            init_uri, first = join_targets(parse((await _response(playlist, reader)).decode()))
            self.requests += 2
            init, init_data = _request(target.netloc, urljoin(target.path, init_uri))
            part, part_data = _request(target.netloc, urljoin(target.path, first.uri), close=True)
            writer.write(init_data + part_data)
            await _response(init, reader)
            await _response(part, reader, after=init)
        finally:
            writer.close()


def _request(host: str, path: str, close: bool = False) -> tuple[h11.Connection, bytes]:
    """One GET as h11 writes it, and the h11 connection that reads its response.

    A client h11.Connection takes one request at a time, so each request of a pipeline
    has its own, on the same socket: the bytes one reads past its response are the
    next's (see `_response`'s `after`)."""
    exchange = h11.Connection(h11.CLIENT)
    headers = [("Host", host), ("User-Agent", "townhall-bench"),
               ("Connection", "close" if close else "keep-alive")]
    data = exchange.send(h11.Request(method="GET", target=path, headers=headers))
    return exchange, data + exchange.send(h11.EndOfMessage())


async def _response(exchange: h11.Connection, reader: asyncio.StreamReader,
                    after: h11.Connection | None = None) -> bytes:
    """The body of the response to `exchange`'s request, read from `reader` after what
    the exchange `after` (the previous response on the connection) read past its own.
    Non-200 raises HttpStatusError; a connection closed mid-response or a malformed
    one raises ConnectionError (an OSError, which JoinStorm counts)."""
    if after is not None:
        data, closed = after.trailing_data
        if data:
            exchange.receive_data(data)
        if closed:
            exchange.receive_data(b"")  # h11's way of saying the connection closed
    status, body = 0, bytearray()
    try:
        while True:
            event = exchange.next_event()
            if event is h11.NEED_DATA:
                exchange.receive_data(await reader.read(READ_BYTES))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
    except h11.RemoteProtocolError as exc:
        raise ConnectionError(f"bad or cut response: {exc}") from exc
    if status != 200:
        raise HttpStatusError(status)
    return bytes(body)


def _worker(url: str, count: int, within: float, start_at: float, tag: str,
            generator: str = "raw") -> dict:
    """One generator process: its share of the storm, returning the raw samples."""
    def progress(message: str) -> None:
        if message.startswith("["):  # the per-second line, not the banner
            print(f"  {tag} {message}", flush=True)

    async def run() -> dict:
        kind = RawJoinStorm if generator == "raw" else JoinStorm
        bench = kind(url, count, within, progress=progress)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        result = await bench.run()
        result["ttfa"] = bench.ttfa
        return result

    return asyncio.run(run())


def storm(url: str, count: int, within: float, processes: int, tag: str,
          generator: str = "raw") -> dict:
    shares = [count // processes + (1 if i < count % processes else 0) for i in range(processes)]
    start_at = time.time() + START_DELAY
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        pending = [pool.apply_async(_worker, (url, n, within, start_at, f"{tag}#{i}", generator))
                   for i, n in enumerate(shares)]
        parts = [p.get(timeout=START_DELAY + within + 60) for p in pending]
    ttfa = [t for p in parts for t in p["ttfa"]]
    errors: Counter[str] = Counter()
    for p in parts:
        errors.update(p["errors"])
    return {
        "count": count,
        "succeeded": len(ttfa),
        "success_rate": len(ttfa) / count,
        "ttfa_p50_s": percentile(ttfa, 50),
        "ttfa_p99_s": percentile(ttfa, 99),
        "ttfa_max_s": max(ttfa, default=float("nan")),
        "errors": dict(errors),
        "requests": sum(p["requests"] for p in parts),
        "start_lateness_p99_s": max(p["start_lateness_s"]["p99"] for p in parts),
        "generator_cpu_share_per_process": [p["generator"]["cpu_share_of_one_core"]
                                            for p in parts],
    }


def wait_for_parts(url: str, deadline: Deadline) -> None:
    while True:
        deadline.check("waiting for the demo Space's first parts")
        try:
            if len(parse(httpx.get(url, timeout=5).text).parts) >= WARM_PARTS:
                return
        except (httpx.HTTPError, PlaylistError):
            pass
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT)
    parser.add_argument("--within", type=float, default=DEFAULT_WITHIN)
    parser.add_argument("--processes", type=int, default=DEFAULT_PROCESSES)
    parser.add_argument("--generator", choices=("raw", "httpx"), default="raw",
                        help="joins over plain asyncio connections (default, cheap) or "
                             "httpx (exactly `townhall bench join-storm`)")
    parser.add_argument("--no-direct", action="store_true",
                        help="skip the comparison storm straight at the origin")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    deadline = Deadline(TOTAL_BUDGET)
    results: dict[str, dict] = {}
    with running_server("demo") as server, tempfile.TemporaryDirectory(prefix="edge-") as tmp:
        origin_pid = server.process.pid
        with NginxEdge([server.base_url.removeprefix("http://")], Path(tmp)) as edge:
            log(f"nginx edge on {edge.url} (pids {edge.pids()}) -> origin {server.base_url}")
            targets = [("edge", edge.url)] + ([] if args.no_direct else [("origin", server.base_url)])
            for name, base in targets:
                url = f"{base}/hls/demo/live.m3u8"
                wait_for_parts(url, deadline)
                deadline.check(f"starting the {name} storm")
                log(f"storm via {name}: {args.count} joins within {args.within:g} s, "
                    f"{args.processes} generator processes")
                since, edge_cpu, origin_cpu = edge.log_offset(), edge.cpu_seconds(), \
                    cpu.process_seconds(origin_pid)
                result = storm(url, args.count, args.within, args.processes, name,
                               args.generator)
                result["edge_cpu_s"] = round(edge.cpu_seconds() - edge_cpu, 2)
                result["origin_cpu_s"] = round(cpu.process_seconds(origin_pid) - origin_cpu, 2)
                if name == "edge":
                    result["origin_requests"] = edge.upstream_requests(
                        since, "/hls/", expect_logged=result["requests"], timeout=10)
                else:
                    result["origin_requests"] = result["requests"]
                    result["edge_cpu_s"] = 0.0
                results[name] = result
                if name == "edge":
                    errors = edge.error_log_path.read_text(errors="replace").splitlines()
                    result["edge_error_log_lines"] = len(errors)
                    for line in errors[-5:]:
                        log(f"nginx error log: {line[:300]}")
                log(f"storm via {name} done: {result['success_rate']:.2%} ok, TTFA p99 "
                    f"{result['ttfa_p99_s']:.3f} s, origin requests {result['origin_requests']}")
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def report(results: dict[str, dict]) -> None:
    names = list(results)
    rows = [
        ["joins (succeeded)"] + [f"{r['count']} ({r['succeeded']})" for r in results.values()],
        ["success rate %"] + [100 * r["success_rate"] for r in results.values()],
        ["TTFA p50 ms"] + [1000 * r["ttfa_p50_s"] for r in results.values()],
        ["TTFA p99 ms"] + [1000 * r["ttfa_p99_s"] for r in results.values()],
        ["TTFA max ms"] + [1000 * r["ttfa_max_s"] for r in results.values()],
        ["errors"] + [json.dumps(r["errors"]) for r in results.values()],
        ["requests made"] + [r["requests"] for r in results.values()],
        ["origin requests"] + [r["origin_requests"] for r in results.values()],
        ["origin CPU s"] + [r["origin_cpu_s"] for r in results.values()],
        ["edge CPU s"] + [r["edge_cpu_s"] for r in results.values()],
        ["generator CPU/core"] + [str(r["generator_cpu_share_per_process"])
                                  for r in results.values()],
        ["join start lateness p99 ms"] + [1000 * r["start_lateness_p99_s"]
                                          for r in results.values()],
    ]
    print_table(["", *(f"via {n}" for n in names)], rows)
    if len(results) == 2 and results["edge"]["origin_requests"]:
        ratio = results["origin"]["origin_requests"] / results["edge"]["origin_requests"]
        print(f"origin requests, direct / through the edge: {ratio:.0f}x", flush=True)


if __name__ == "__main__":
    main()
