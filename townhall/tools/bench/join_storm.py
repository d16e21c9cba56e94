"""`townhall bench join-storm`: N joins spread evenly over S seconds.

A join is what a player needs before it can start: the playlist, the init segment and
the first part (PART-HOLD-BACK behind the live edge, where a low-latency player
starts). Each join is a new listener, so by default it closes its connection after the
first part (`Connection: close`) and the next join opens a fresh one; with
`--reuse-connections` joins share keep-alive connections instead.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from urllib.parse import urljoin

import httpx

from townhall.tools.bench import MAX_JOIN_WINDOW, MAX_JOINS
from townhall.tools.bench.common import (
    REQUEST_TIMEOUT,
    Clients,
    GeneratorHealth,
    HttpStatusError,
    Progress,
    bounded,
    check_url,
    connection_budget,
    error_kind,
    errors_text,
    generator_text,
    get_ok,
    percentile,
    preflight,
    say,
    table,
    tick_every_second,
)
from townhall.tools.bench.playlist import MediaPlaylist, Part, PlaylistError, parse

# A join that has not got its first part after this long has failed.
JOIN_TIMEOUT = 15.0


def join_targets(playlist: MediaPlaylist) -> tuple[str, Part]:
    """What a join fetches after the playlist: the init segment's URI and the part
    PART-HOLD-BACK behind the live edge."""
    if playlist.init_uri is None or not playlist.parts:
        raise PlaylistError("no EXT-X-MAP or no parts")
    return playlist.init_uri, playlist.parts[max(0, len(playlist.parts)
                                                 - playlist.parts_back())]


class JoinStorm:
    def __init__(self, url: str, count: int, within: float, reuse_connections: bool = False,
                 connections: int | None = None, progress: Progress = None) -> None:
        self.url = check_url(url)
        bounded("--count", count, 1, MAX_JOINS)
        bounded("--within", within, 0, MAX_JOIN_WINDOW)
        self.count, self.within = count, within
        self.reuse = reuse_connections
        self.connections = connection_budget(connections or count)
        self.progress = progress
        self.ttfa: list[float] = []
        self.lateness: list[float] = []  # how late the generator started each join
        self.errors: Counter[str] = Counter()
        self.requests = 0
        self.started = 0
        self.in_flight = 0
        self.health = GeneratorHealth()

    async def _get(self, client: httpx.AsyncClient, url: str,
                   headers: dict[str, str] | None = None) -> httpx.Response:
        self.requests += 1
        return await get_ok(client, url, headers=headers)

    async def _join(self, client: httpx.AsyncClient, at: float) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, at - loop.time()))
        begun = loop.time()
        self.lateness.append(begun - at)
        self.started += 1
        self.in_flight += 1
        try:
            async with asyncio.timeout(JOIN_TIMEOUT):
                await self._first_audio(client)
            self.ttfa.append(loop.time() - begun)
        except TimeoutError:
            self.errors["join_timeout"] += 1
        # ValueError: parsing; OSError: connections made without httpx (subclasses).
        except (httpx.HTTPError, HttpStatusError, ValueError, OSError) as exc:
            self.errors[error_kind(exc)] += 1
        finally:
            self.in_flight -= 1

    async def _first_audio(self, client: httpx.AsyncClient) -> None:
        """One join's requests: playlist, init segment, the first part."""
        playlist = parse((await self._get(client, self.url)).text)
        init_uri, first = join_targets(playlist)
        await self._get(client, urljoin(self.url, init_uri))
        close = None if self.reuse else {"Connection": "close"}
        await self._get(client, urljoin(self.url, first.uri), headers=close)

    async def run(self) -> dict:
        clients = Clients(self.connections, self.count)
        try:
            await preflight(clients.for_user(0), self.url)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            end_at = t0 + self.within + JOIN_TIMEOUT + REQUEST_TIMEOUT
            self.health = GeneratorHealth()
            say(self.progress, f"{self.count} joins within {self.within:g} s "
                               f"({self.connections} connections) -> {self.url}")

            def tick(elapsed: float) -> None:
                say(self.progress,
                    f"[{elapsed:5.1f}s] joined {len(self.ttfa)}/{self.count}  started "
                    f"{self.started}  in flight {self.in_flight}  "
                    f"errors {sum(self.errors.values())}")

            joins = asyncio.gather(*(
                self._join(clients.for_user(i), t0 + self.within * i / self.count)
                for i in range(self.count)
            ))
            ticker = asyncio.create_task(tick_every_second(end_at, tick, self.health))
            try:
                async with asyncio.timeout_at(end_at):  # every join is bounded anyway
                    await joins
            except TimeoutError:
                self.errors["not_finished"] += self.count - len(self.ttfa) - sum(
                    self.errors.values())
            ticker.cancel()
            elapsed = loop.time() - t0
            tick(elapsed)
        finally:
            await clients.aclose()
        return {
            "command": "join-storm",
            "url": self.url,
            "count": self.count,
            "within_s": self.within,
            "connections": self.connections,
            "fresh_connection_per_join": not self.reuse,
            "succeeded": len(self.ttfa),
            "success_rate": len(self.ttfa) / self.count,
            "ttfa_s": {"p50": percentile(self.ttfa, 50), "p99": percentile(self.ttfa, 99),
                       "max": max(self.ttfa, default=float("nan"))},
            "errors": dict(self.errors),
            "requests": self.requests,
            "requests_per_s": self.requests / elapsed if elapsed else float("nan"),
            "start_lateness_s": {"p99": percentile(self.lateness, 99),
                                 "max": max(self.lateness, default=float("nan"))},
            "elapsed_s": round(elapsed, 3),
            "generator": self.health.summary(),
        }


def summary_text(result: dict, health: GeneratorHealth | None = None) -> str:
    ttfa = result["ttfa_s"]
    rows: list[tuple[str, object]] = [
        ("joins", f"{result['count']} within {result['within_s']:g} s"),
        ("succeeded", f"{result['succeeded']} ({result['success_rate']:.2%})"),
        ("time to first audio p50", ttfa["p50"]),
        ("time to first audio p99", ttfa["p99"]),
        ("time to first audio max", ttfa["max"]),
        ("errors", errors_text(Counter(result["errors"]))),
        ("requests/s", result["requests_per_s"]),
        ("join start lateness p99", result["start_lateness_s"]["p99"]),
        ("generator CPU, loop lag", generator_text(result)),
    ]
    text = table(rows)
    if health is not None and health.warning():
        text += "\n" + health.warning()
    return text
