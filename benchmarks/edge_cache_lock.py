"""What nginx's cache lock does to LL-HLS blocking reloads, per lock timeout.

    .venv/bin/python -m benchmarks.edge_cache_lock [--timeouts off,100ms,300ms,1s]

For each `proxy_cache_lock_timeout` (or the lock off), an edge runs in front of
`townhall demo`; in each trial, right after part P appears, `--waiters` requests for the
blocking reload of part P+1 arrive at the edge spread over `--spread` seconds, together
with one request for it straight at the origin. Reported: how much later than the direct
request each waiter got its answer, and how many requests the edge sent to the origin
per trial. (nginx re-checks a cache lock on a timer, min(500 ms, lock timeout), not when
the answer lands; see deploy/nginx/README.md.)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

import httpx

import townhall.edge.config as edge_module
from benchmarks._common import log, percentile, print_table, running_server
from townhall.testing.edge import NginxEdge

PARTS_PER_SEGMENT = 8
TRIALS = 8


def next_position(msn: int, part: int) -> tuple[int, int]:
    return (msn, part + 1) if part + 1 < PARTS_PER_SEGMENT else (msn + 1, 0)


def newest_part(text: str) -> tuple[int, int]:
    import m3u8

    playlist = m3u8.loads(text)
    msn = playlist.media_sequence + len(playlist.segments) - 1
    return msn, len(playlist.segments[-1].parts) - 1


async def trial(client: httpx.AsyncClient, origin: str, edge_url: str, waiters: int,
                spread: float) -> list[float]:
    path = "/hls/demo/live.m3u8"
    now = next_position(*newest_part((await client.get(origin + path)).text))
    await client.get(origin + path, params={"_HLS_msn": now[0], "_HLS_part": now[1]})
    target = next_position(*now)
    query = f"{path}?_HLS_msn={target[0]}&_HLS_part={target[1]}"

    async def direct() -> float:
        await client.get(origin + query)
        return time.monotonic()

    async def waiter(delay: float) -> float:
        await asyncio.sleep(delay)
        (await client.get(edge_url + query)).raise_for_status()
        return time.monotonic()

    reference, *done = await asyncio.gather(
        direct(), *(waiter(random.uniform(0, spread)) for _ in range(waiters)))
    return [t - reference for t in done]


async def measure(origin: str, edge: NginxEdge, waiters: int, spread: float) -> dict:
    late: list[float] = []
    origin_requests = []
    async with httpx.AsyncClient(timeout=20, limits=httpx.Limits(max_connections=waiters + 10)) \
            as client:
        for _ in range(TRIALS):
            since = edge.log_offset()
            late += await trial(client, origin, edge.url, waiters, spread)
            origin_requests.append(edge.upstream_requests(
                since, "/hls/demo/live.m3u8", expect_logged=waiters))
    return {"p50": percentile(late, 50), "p90": percentile(late, 90), "max": max(late),
            "origin": origin_requests}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeouts", default="off,100ms,200ms,300ms,500ms,1s")
    parser.add_argument("--waiters", type=int, default=50)
    parser.add_argument("--spread", type=float, default=0.1)
    args = parser.parse_args()
    rows = []
    with running_server("demo") as server, tempfile.TemporaryDirectory() as tmp:
        origin = server.base_url
        for setting in args.timeouts.split(","):
            edge = NginxEdge([origin.removeprefix("http://")], Path(tmp) / setting)
            saved = edge_module.LOCK_TIMEOUT
            edge_module.LOCK_TIMEOUT = "1s" if setting == "off" else setting
            config = edge.render()
            edge_module.LOCK_TIMEOUT = saved
            if setting == "off":
                config = config.replace("proxy_cache_lock on;", "proxy_cache_lock off;")
            edge.render = lambda text=config: text  # type: ignore[method-assign]
            with edge:
                result = asyncio.run(measure(origin, edge, args.waiters, args.spread))
            log(f"lock {setting}: {result}")
            rows.append([setting, 1000 * result["p50"], 1000 * result["p90"],
                         1000 * result["max"], f"{min(result['origin'])}-{max(result['origin'])}"])
    print(f"{args.waiters} waiters per trial, arriving over {args.spread:g} s after the "
          f"previous part; {TRIALS} trials per setting")
    print_table(["lock timeout", "later p50 ms", "p90 ms", "max ms",
                 f"origin requests per {args.waiters}"], rows)


if __name__ == "__main__":
    main()
