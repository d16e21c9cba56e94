"""`townhall bench listeners`: N simulated low-latency HLS players.

Each player fetches like hls.js in low-latency mode: the playlist, the init segment,
then parts from PART-HOLD-BACK behind the live edge (3 parts here); after that a
blocking playlist reload (_HLS_msn/_HLS_part) for the part after the newest it has,
and each new part as soon as the playlist lists it.

Per player it measures time to first audio (start to the first part's bytes), stalls
(a modelled playhead runs out of fetched audio) and latency (arrival time minus the
part's EXT-X-PROGRAM-DATE-TIME, so it includes any clock difference with the server).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from townhall.limits import BEACON_INTERVAL
from townhall.tools.bench import MAX_DURATION, MAX_LISTENERS
from townhall.tools.bench.common import (
    Clients,
    GeneratorHealth,
    Histogram,
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
from townhall.tools.bench.playlist import MediaPlaylist, PlaylistError, parse

# The playhead starts this long after the first part arrives (a small startup buffer,
# about one part, as a player waits for a little audio before it starts).
STARTUP_BUFFER = 0.256
# After an error a player waits this long before it tries again (hls.js retries too).
RETRY_DELAY = 1.0
# Underruns shorter than this are timer noise, not something a listener hears.
STALL_EPSILON = 0.001
# Players start over min(MAX_DEFAULT_RAMP, duration / 4) seconds unless --ramp says.
MAX_DEFAULT_RAMP = 5.0
# Against a server without blocking playlist reload, a player polls this often when
# the playlist gives no PART-TARGET.
POLL_INTERVAL = 1.0
# How often a player's beacon task looks whether audio has started.
BEACON_START_CHECK = 0.1


@dataclass
class Playback:
    """A playhead that starts STARTUP_BUFFER after the first part and advances in real
    time while it has audio; when it catches up with the fetched audio it stalls until
    the next part arrives (then plays on from where it stopped)."""

    startup: float = STARTUP_BUFFER
    first_at: float | None = None
    buffered: float = 0.0  # media seconds fetched
    since: float = 0.0  # loop time the current run of playing started
    position_at_since: float = 0.0
    stalled_since: float | None = None
    stalls: int = 0
    stalled_seconds: float = 0.0
    played_until: float | None = None

    def _advance(self, now: float) -> None:
        if self.first_at is None or self.stalled_since is not None or now <= self.since:
            return
        position = self.position_at_since + (now - self.since)
        runs_out = self.since + (self.buffered - self.position_at_since)
        if position > self.buffered and runs_out < now - STALL_EPSILON:
            self.stalled_since = runs_out

    def add(self, duration: float, now: float) -> None:
        if self.first_at is None:
            self.first_at = now
            self.since = now + self.startup
        self._advance(now)
        if self._end_stall(now):
            self.since, self.position_at_since = now, self.buffered
        self.buffered += duration

    def finish(self, now: float) -> None:
        self._advance(now)
        self._end_stall(now)
        self.played_until = now

    def _end_stall(self, now: float) -> bool:
        """Count a stall that lasted until `now`; False if not stalled."""
        if self.stalled_since is None:
            return False
        self.stalls += 1
        self.stalled_seconds += now - self.stalled_since
        self.stalled_since = None
        return True

    @property
    def playing_seconds(self) -> float:
        if self.first_at is None or self.played_until is None:
            return 0.0
        return max(0.0, self.played_until - (self.first_at + self.startup))


@dataclass
class Listener:
    index: int
    started: float | None = None  # loop time
    ttfa: float | None = None
    parts: int = 0
    playback: Playback = field(default_factory=Playback)


def beacon_url_for(playlist_url: str) -> str | None:
    """A Townhall Space's beacon endpoint, from its HLS URL (None for other servers)."""
    parts = urlsplit(playlist_url)
    match = re.fullmatch(r"(.*)/hls/([A-Za-z0-9_-]{1,16})/live\.m3u8", parts.path)
    if match is None:
        return None
    return f"{parts.scheme}://{parts.netloc}{match[1]}/api/spaces/{match[2]}/beacon"


class ListenersRun:
    def __init__(self, url: str, count: int, duration: float, ramp: float | None = None,
                 connections: int | None = None, progress: Progress = None,
                 beacons: bool = True) -> None:
        self.url = check_url(url)
        bounded("--count", count, 1, MAX_LISTENERS)
        bounded("--duration", duration, 1, MAX_DURATION)
        if ramp is None:
            ramp = min(MAX_DEFAULT_RAMP, duration / 4)
        bounded("--ramp", ramp, 0, duration)
        self.count, self.duration, self.ramp = count, duration, ramp
        self.connections = connection_budget(connections or count)
        self.progress = progress
        self.listeners = [Listener(i) for i in range(count)]
        self.errors: Counter[str] = Counter()
        self.latency = Histogram()
        self.requests = 0
        self.parts = 0
        self.bytes = 0
        self.running = 0
        self.health = GeneratorHealth()
        self._base = url.rsplit("/", 1)[0] + "/"
        self.beacon_url = beacon_url_for(self.url) if beacons else None

    def _resolve(self, uri: str) -> str:
        if "/" not in uri and ":" not in uri:
            return self._base + uri
        return urljoin(self.url, uri)

    async def _get(self, client: httpx.AsyncClient, url: str,
                   params: dict[str, int] | None = None) -> httpx.Response:
        self.requests += 1
        return await get_ok(client, url, params=params)

    async def _fetch_part(self, client: httpx.AsyncClient, listener: Listener, part) -> None:
        response = await self._get(client, self._resolve(part.uri))
        now, wall = asyncio.get_running_loop().time(), time.time()
        if listener.ttfa is None:
            listener.ttfa = now - (listener.started or now)
        listener.playback.add(part.duration, now)
        listener.parts += 1
        self.parts += 1
        self.bytes += len(response.content)
        if part.program_date_time is not None:
            self.latency.add(wall - part.program_date_time)

    def _start_key(self, playlist: MediaPlaylist, last: tuple[int, int] | None
                   ) -> tuple[int, int]:
        """Where to continue: after `last`, or PART-HOLD-BACK behind the live edge when
        starting (or when `last` fell out of the playlist window)."""
        parts = playlist.parts
        if not parts:
            raise PlaylistError("the playlist lists no parts (not low-latency HLS?)")
        first = parts[0].key
        if last is not None and (first <= last or first in ((last[0], last[1] + 1),
                                                            (last[0] + 1, 0))):
            return last
        if last is not None:
            self.errors["fell_behind"] += 1
        start = max(0, len(parts) - playlist.parts_back())
        return parts[start - 1].key if start > 0 else (first[0], first[1] - 1)

    async def _play(self, listener: Listener, client: httpx.AsyncClient) -> None:
        """Play until cancelled at the deadline (or the Space ends)."""
        last: tuple[int, int] | None = None
        have_init = False
        while True:
            try:
                playlist = parse((await self._get(client, self.url)).text)
                if not have_init:
                    if playlist.init_uri is None:
                        raise PlaylistError("the playlist has no EXT-X-MAP")
                    await self._get(client, self._resolve(playlist.init_uri))
                    have_init = True
                while True:
                    last = self._start_key(playlist, last)
                    new = [p for p in playlist.parts if p.key > last]
                    for part in new:
                        await self._fetch_part(client, listener, part)
                        last = part.key
                    if new:
                        continue  # the playlist may list more by now: block for the next
                    if playlist.ended:
                        return
                    if not playlist.can_block_reload:
                        # A server without blocking reload: poll once per part target.
                        await asyncio.sleep(playlist.part_target or POLL_INTERVAL)
                    msn, index = playlist.next_after(last)
                    response = await self._get(client, self.url,
                                               {"_HLS_msn": msn, "_HLS_part": index})
                    playlist = parse(response.text)
            except (httpx.HTTPError, HttpStatusError, ValueError) as exc:  # ValueError: parsing
                self.errors[error_kind(exc)] += 1
                await asyncio.sleep(RETRY_DELAY)

    async def _player(self, listener: Listener, client: httpx.AsyncClient, start_at: float,
                      end_at: float) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, start_at - loop.time()))
        listener.started = loop.time()
        self.running += 1
        beacons = (asyncio.create_task(self._beacons(listener, client))
                   if self.beacon_url else None)
        try:
            async with asyncio.timeout_at(end_at):
                await self._play(listener, client)
        except TimeoutError:
            pass
        finally:
            if beacons is not None:
                beacons.cancel()
            self.running -= 1
            listener.playback.finish(min(loop.time(), end_at))

    async def _beacons(self, listener: Listener, client: httpx.AsyncClient) -> None:
        """Like the web player: once audio plays, a beacon with this player's random
        session id every BEACON_INTERVAL, so the run shows in the audience figures."""
        session = secrets.token_urlsafe(16)
        while listener.ttfa is None:
            await asyncio.sleep(BEACON_START_CHECK)
        while True:
            try:
                self.requests += 1
                response = await client.post(self.beacon_url, json={"session": session})
                if response.status_code != 204:
                    self.errors[f"beacon_{response.status_code}"] += 1
            except httpx.HTTPError as exc:
                self.errors[f"beacon_{error_kind(exc)}"] += 1
            await asyncio.sleep(BEACON_INTERVAL)

    async def run(self) -> dict:
        clients = Clients(self.connections, self.count)
        try:
            await preflight(clients.for_user(0), self.url, playlist=True)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            end_at = t0 + self.duration
            self.health = GeneratorHealth()
            say(self.progress, f"{self.count} listeners for {self.duration:g} s (ramp "
                               f"{self.ramp:g} s, {self.connections} connections) -> {self.url}")
            previous = {"parts": 0, "requests": 0, "t": 0.0}

            def tick(elapsed: float) -> None:
                dt = max(1e-6, elapsed - previous["t"])
                parts_rate = (self.parts - previous["parts"]) / dt
                request_rate = (self.requests - previous["requests"]) / dt
                previous.update(parts=self.parts, requests=self.requests, t=elapsed)
                say(self.progress,
                    f"[{elapsed:5.1f}s] players {self.running}/{self.count}  "
                    f"parts/s {parts_rate:.0f}  req/s {request_rate:.0f}  "
                    f"errors {sum(self.errors.values())}")

            ticker = asyncio.create_task(tick_every_second(end_at, tick, self.health))
            await asyncio.gather(*(
                self._player(listener, clients.for_user(listener.index),
                             t0 + self.ramp * listener.index / self.count, end_at)
                for listener in self.listeners
            ))
            await ticker
            elapsed = loop.time() - t0
        finally:
            await clients.aclose()
        return self.result(elapsed)

    def result(self, elapsed: float) -> dict:
        ttfas = [x.ttfa for x in self.listeners if x.ttfa is not None]
        playing = sum(x.playback.playing_seconds for x in self.listeners)
        stalls = sum(x.playback.stalls for x in self.listeners)
        errors = Counter(self.errors)
        no_audio = self.count - len(ttfas)
        if no_audio:
            errors["no_audio"] = no_audio
        return {
            "command": "listeners",
            "url": self.url,
            "count": self.count,
            "duration_s": self.duration,
            "ramp_s": self.ramp,
            "connections": self.connections,
            "players_with_audio": len(ttfas),
            "ttfa_s": {"p50": percentile(ttfas, 50), "p95": percentile(ttfas, 95),
                       "max": max(ttfas, default=float("nan"))},
            "stalls": {
                "count": stalls,
                "seconds": round(sum(x.playback.stalled_seconds for x in self.listeners), 3),
                "players_stalled": sum(1 for x in self.listeners if x.playback.stalls),
                "per_player_minute": stalls / (playing / 60) if playing else float("nan"),
            },
            "player_minutes": round(playing / 60, 2),
            "latency_s": {"p50": self.latency.percentile(50),
                          "p95": self.latency.percentile(95),
                          "max": self.latency.max if self.latency.count else float("nan"),
                          "samples": self.latency.count,
                          "negative": self.latency.below_zero},
            "errors": dict(errors),
            "requests": self.requests,
            "requests_per_s": self.requests / elapsed if elapsed else float("nan"),
            "parts": self.parts,
            "bytes": self.bytes,
            "elapsed_s": round(elapsed, 3),
            "generator": self.health.summary(),
        }


def summary_text(result: dict, health: GeneratorHealth | None = None) -> str:
    ttfa, lat, stalls = result["ttfa_s"], result["latency_s"], result["stalls"]
    rows: list[tuple[str, object]] = [
        ("listeners (with audio)", f"{result['count']} ({result['players_with_audio']})"),
        ("duration / ramp", f"{result['duration_s']:g} s / {result['ramp_s']:g} s"),
        ("time to first audio p50", ttfa["p50"]),
        ("time to first audio p95", ttfa["p95"]),
        ("time to first audio max", ttfa["max"]),
        ("stalls per player-minute", stalls["per_player_minute"]),
        ("stalls (players, seconds)",
         f"{stalls['count']} ({stalls['players_stalled']}, {stalls['seconds']:g} s)"),
        ("latency p50", lat["p50"]),
        ("latency p95", lat["p95"]),
        ("errors", errors_text(Counter(result["errors"]))),
        ("requests/s", result["requests_per_s"]),
        ("parts fetched", result["parts"]),
        ("generator CPU, loop lag", generator_text(result)),
    ]
    text = table(rows)
    if lat.get("negative"):
        text += ("\nnote: some latencies were negative: this machine's clock is behind the "
                 "server's")
    if health is not None and health.warning():
        text += "\n" + health.warning()
    return text
