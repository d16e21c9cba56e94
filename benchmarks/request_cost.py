"""Server CPU per API request, by kind: `python -m benchmarks.request_cost [--count N]`.

Starts `townhall serve` (a subprocess), makes a live Space and 20 signed-in listeners,
then sends each kind of request `--count` times, 10 at a time, and reads the server
process's CPU time (psutil) before and after: CPU milliseconds per request and requests
per second. Every request made here is bounded in number and answered before the next
batch; only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import psutil

from townhall.testing.servers import MANY_SIGNUPS, live_space, signed_in_client, start_server, stop_server

DEFAULT_COUNT = 200
MAX_COUNT = 5_000
IN_FLIGHT = 10
LISTENERS = 20
Make = Callable[[httpx.AsyncClient, httpx.AsyncClient, int], Awaitable[httpx.Response]]


async def measure(name: str, make: Make, base: str, host: httpx.Client,
                  listeners: list[httpx.Client], process: psutil.Process, count: int) -> None:
    def cpu() -> float:
        times = process.cpu_times()
        return times.user + times.system

    async with httpx.AsyncClient(base_url=base, cookies=host.cookies) as as_host:
        clients = [httpx.AsyncClient(base_url=base, cookies=c.cookies) for c in listeners]
        turns = asyncio.Semaphore(IN_FLIGHT)

        async def one(i: int) -> None:
            async with turns:
                response = await make(as_host, clients[i % len(clients)], i)
                response.raise_for_status()

        before, started = cpu(), time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        used, took = cpu() - before, time.perf_counter() - started
        for client in clients:
            await client.aclose()
    print(f"{name:12s} {used / count * 1000:6.2f} ms server CPU per request   "
          f"{count / took:6.0f} requests/s", flush=True)


async def run(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="townhall-request-cost-") as tmp:
        server = start_server(Path(tmp), command="serve",
                              extra_env={**MANY_SIGNUPS, "TOWNHALL_LOG_LEVEL": "warning"})
        try:
            host = signed_in_client(server.base_url, "costhost")
            space = live_space(host, "Request cost")["id"]
            listeners = [signed_in_client(server.base_url, "costfan") for _ in range(LISTENERS)]
            process = psutil.Process(server.process.pid)
            kinds: list[tuple[str, Make]] = [
                ("healthz", lambda h, f, i: f.get("/healthz")),
                ("me", lambda h, f, i: f.get("/api/me")),
                ("get_space", lambda h, f, i: f.get(f"/api/spaces/{space}")),
                ("react", lambda h, f, i: f.post(f"/api/spaces/{space}/reactions",
                                                 json={"emoji": "👏"})),
                ("title", lambda h, f, i: h.patch(f"/api/spaces/{space}", json={"title": f"T{i}"})),
                ("pin", lambda h, f, i: h.put(f"/api/spaces/{space}/pinned",
                                              json={"url": f"https://example.org/{i}"})),
            ]
            for name, make in kinds:
                # Reactions are rate-limited per listener: at most a burst's worth each.
                n = min(count, LISTENERS * 5) if name == "react" else count
                await measure(name, make, server.base_url, host, listeners, process, n)
        finally:
            stop_server(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT)
    args = parser.parse_args()
    asyncio.run(run(max(1, min(args.count, MAX_COUNT))))


if __name__ == "__main__":
    main()
