"""Shared pieces of the bench commands: HTTP clients, error kinds, statistics,
progress lines, the summary table and the generator's own health."""

from __future__ import annotations

import asyncio
import json
import math
import resource
import ssl
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx


def _cache_missing_sniffio() -> None:
    """httpcore imports the optional `sniffio` on every lock it sets up (one or more per
    request) and Python does not cache a failed import, so without sniffio installed a
    quarter of the generator's CPU went to searching sys.path (encode/httpcore#1103).
    Recording it as absent makes that import fail at once; httpcore then assumes
    asyncio, as it would anyway."""
    import importlib.util

    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


_cache_missing_sniffio()

# Per-request limit: a blocking playlist reload answers within three target durations
# (6 s here), so 10 s means the server did not answer.
REQUEST_TIMEOUT = 10.0
# Connections one httpx client holds. httpcore's pool rescans every connection (and,
# for idle ones, every connection again) each time a request starts or ends, so one
# client with thousands of connections spends the generator's CPU in bookkeeping;
# players are spread over clients of this many connections instead. Each player still
# has one keep-alive HTTP/1.1 connection of its own, as a browser would.
CONNECTIONS_PER_CLIENT = 4
# File descriptors kept for everything but connections (logs, the event loop, DNS).
RESERVED_FDS = 200

Progress = Callable[[str], None] | None


class BenchError(Exception):
    """A run that cannot start or finish (bad arguments, a refused sign-in, ...)."""


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BenchError(f"not an http(s) URL: {url!r}")
    return url


def bounded(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise BenchError(f"{name} must be between {low:g} and {high:g} (got {value:g})")


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit; return the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def connection_budget(wanted: int) -> int:
    """Connections this process can open: one per player, if file descriptors allow."""
    return max(1, min(wanted, raise_fd_limit() - RESERVED_FDS))


class Clients:
    """Keep-alive HTTP/1.1 clients for `connections` connections in all, in groups of
    CONNECTIONS_PER_CLIENT; `for_user(i)` is the client of simulated user i."""

    def __init__(self, connections: int, users: int, per_client: int = CONNECTIONS_PER_CLIENT):
        per_client = max(1, min(per_client, connections))
        count = max(1, math.ceil(connections / per_client))
        self.connections = connections
        self.users = users
        # One TLS context for all: building one per client costs milliseconds each.
        context = ssl.create_default_context()
        limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client,
                              keepalive_expiry=30.0)
        self.clients = [
            httpx.AsyncClient(
                limits=limits,
                timeout=httpx.Timeout(REQUEST_TIMEOUT),
                verify=context,
                follow_redirects=False,  # only the URL the user typed
                trust_env=False,  # no proxies from the environment either
                headers={"User-Agent": "townhall-bench"},
            )
            for _ in range(count)
        ]

    def for_user(self, i: int) -> httpx.AsyncClient:
        # Users i, i+count, ... share a client; with `connections` < `users` they queue.
        return self.clients[i % len(self.clients)]

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.clients), return_exceptions=True)


class HttpStatusError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


async def get_ok(client: httpx.AsyncClient, url: str, params: dict[str, int] | None = None,
                 headers: dict[str, str] | None = None) -> httpx.Response:
    """GET `url`; anything but 200 raises HttpStatusError."""
    response = await client.get(url, params=params, headers=headers)
    if response.status_code != 200:
        raise HttpStatusError(response.status_code)
    return response


async def preflight(client: httpx.AsyncClient, url: str, playlist: bool = False) -> None:
    """One GET before a run starts, so a wrong URL or a server that is down fails the run
    at once (BenchError) instead of as thousands of errors; with `playlist` the answer
    must be an M3U8 playlist too."""
    try:
        response = await client.get(url)
    except httpx.HTTPError as exc:
        raise BenchError(f"{url}: {error_kind(exc)} ({exc})") from exc
    if response.status_code != 200 or (playlist and not response.text.startswith("#EXTM3U")):
        raise BenchError(f"{url} answered {response.status_code}: {response.text[:200]!r}")


def error_kind(exc: BaseException) -> str:
    """A short name for what went wrong, to count errors by kind."""
    if isinstance(exc, HttpStatusError):
        return f"http_{exc.status}"
    names = {
        httpx.ConnectTimeout: "connect_timeout",
        httpx.ReadTimeout: "read_timeout",
        httpx.WriteTimeout: "write_timeout",
        httpx.PoolTimeout: "pool_timeout",
        httpx.ConnectError: "connect_error",
        httpx.ReadError: "read_error",
        httpx.WriteError: "write_error",
        httpx.RemoteProtocolError: "protocol_error",
    }
    for cls, name in names.items():
        if isinstance(exc, cls):
            return name
    if isinstance(exc, ValueError):
        return "bad_playlist"
    return type(exc).__name__


# --- statistics ------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


class Histogram:
    """Millisecond bins up to `limit` seconds: percentiles over millions of samples in
    constant memory."""

    def __init__(self, limit: float = 60.0) -> None:
        self.bins = [0] * (int(limit * 1000) + 1)
        self.count = 0
        self.max = -math.inf
        self.below_zero = 0  # clock skew between this machine and the server

    def add(self, seconds: float) -> None:
        if seconds < 0:
            self.below_zero += 1
        self.bins[min(len(self.bins) - 1, max(0, int(seconds * 1000)))] += 1
        self.count += 1
        self.max = max(self.max, seconds)

    def percentile(self, q: float) -> float:
        if not self.count:
            return math.nan
        rank = max(1, math.ceil(q / 100 * self.count))
        seen = 0
        for ms, n in enumerate(self.bins):
            seen += n
            if seen >= rank:
                return (ms + 0.5) / 1000
        return self.max


# --- the generator's own health -------------------------------------------------------


@dataclass
class GeneratorHealth:
    """Is the load generator itself the limit? CPU share of one core and how late the
    event loop wakes up (a busy loop delays every simulated player)."""

    started: float = field(default_factory=time.monotonic)
    cpu_started: float = field(default_factory=time.process_time)
    max_lag: float = 0.0

    def lag(self, seconds: float) -> None:
        self.max_lag = max(self.max_lag, seconds)

    def cpu_share(self) -> float:
        wall = time.monotonic() - self.started
        return (time.process_time() - self.cpu_started) / wall if wall > 0 else 0.0

    def summary(self) -> dict[str, float]:
        return {"cpu_share_of_one_core": round(self.cpu_share(), 3),
                "max_event_loop_lag_s": round(self.max_lag, 3)}

    def warning(self) -> str | None:
        if self.cpu_share() > 0.85 or self.max_lag > 0.25:
            return (f"warning: the load generator was busy (CPU {self.cpu_share():.0%} of a "
                    f"core, event loop up to {self.max_lag * 1000:.0f} ms late): figures show "
                    "its limit as much as the server's; run fewer users per process, or "
                    "several processes on other machines")
        return None


def generator_text(result: dict) -> str:
    generator = result["generator"]
    return (f"{generator['cpu_share_of_one_core']:.0%} of a core, "
            f"{generator['max_event_loop_lag_s'] * 1000:.0f} ms")


async def tick_every_second(until: float, on_tick: Callable[[float], None],
                            health: GeneratorHealth) -> None:
    """Call on_tick(elapsed) every second until the loop time `until`."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    n = 0
    while True:
        n += 1
        due = start + n
        if due > until:
            return
        await asyncio.sleep(max(0.0, due - loop.time()))
        health.lag(loop.time() - due)
        on_tick(loop.time() - start)


def say(progress: Progress, message: str) -> None:
    if progress is not None:
        progress(message)


def print_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- results -------------------------------------------------------------------------


def fmt(value: object, unit: str = "") -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.3f}{unit}" if abs(value) < 10 else f"{value:.1f}{unit}"
    return f"{value}{unit}"


def table(rows: list[tuple[str, object]]) -> str:
    """Two columns: what, value."""
    width = max(len(name) for name, _ in rows)
    lines = [f"{name.ljust(width)}  {fmt(value)}" for name, value in rows]
    rule = "-" * max(len(line) for line in lines)
    return "\n".join([rule, *lines, rule])


def grid(headers: list[str], rows: list[list[object]]) -> str:
    cells = [headers] + [[fmt(c) for c in row] for row in rows]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(headers))]
    rule = "  ".join("-" * w for w in widths)
    out = [rule]
    for n, row in enumerate(cells):
        out.append("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                             for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if n == 0:
            out.append(rule)
    out.append(rule)
    return "\n".join(out)


def errors_text(errors: Counter[str]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in errors.most_common()) or "none"


def write_json(path: Path | None, result: dict) -> None:
    if path is not None:
        path.write_text(json.dumps(clean(result), indent=2) + "\n")


def clean(value: object) -> object:
    """nan -> None (JSON has no nan), recursively."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value
