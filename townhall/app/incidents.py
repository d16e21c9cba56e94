"""The incident timeline, collected (the method and the rules: townhall/domain/incidents.py).

This origin counts, per Space and bucket, what it answers (townhall/http/common/
incident_tap.py calls `request` for every request under /hls/{space}/, /api/spaces/{space}/,
/whip/{space}, /s/{space}), what players report (time to first audio in their first
beacon), its own CPU and each mixer's late ticks, and backends failing. Every second it
hands its tallies to the book (memory or Redis, where every origin's add up), keeping
only Spaces that are on air (here or, in a cluster, anywhere), so requests for made-up
ids cost nothing. `parse_edge_line` reads the edge's `townhall_edge` access log lines
into the same tallies (`EdgeLogTailer` follows the file, `townhall incidents ingest`
reads one after the fact), so the timeline holds when the origin was what fell over.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from townhall import limits
from townhall.app.outages import BACKEND_ERRORS, Outage
from townhall.backends.incidents import IncidentBook
from townhall.domain.ids import SPACE_ID
from townhall.domain.incidents import RULES, Tally, judge, network_of
from townhall.media.llhls import INIT_NAME
from townhall.media.space_media import SpaceMedia

log = logging.getLogger(__name__)

# Tallies are handed to the book this often: the timeline is at most this late.
FLUSH_EVERY = 1.0
# Spaces counted between two flushes on one node; requests for more (made-up ids in a
# flood) are not counted until the next flush decides which are on air.
MAX_SPACES_PER_FLUSH = 10_000
# Lines of the edge's access log read per pass of the tailer (bounded work per pass).
EDGE_LINES_PER_PASS = 50_000
# How often the tailer looks for new lines.
EDGE_POLL_SECONDS = 0.5

_SPACE_PATH = re.compile(r"^/(?:hls|api/spaces|whip|s)/([^/?]+)(/[^?]*)?$")


@dataclass(frozen=True)
class Attributed:
    space_id: str
    join_attempt: bool
    join_success: bool
    timed: bool  # its answer time is a media answer's (not a blocking reload)


def attribute(path: str, query: str, status: int) -> Attributed | None:
    """Which Space a request was for, and what it says about joins: a player's first
    playlist load (no `_HLS_msn`) that failed is a failed join attempt; the init segment
    is fetched once per join, so it is an attempt, and a success when answered."""
    match = _SPACE_PATH.match(path)
    if match is None or not SPACE_ID.fullmatch(match.group(1)):
        return None
    rest = match.group(2) or ""
    if not path.startswith("/hls/"):
        return Attributed(match.group(1), False, False, False)
    ok = 200 <= status < 400
    name = rest.rsplit("/", 1)[-1]
    blocking = "_HLS_msn" in parse_qs(query)
    if name == "live.m3u8":
        return Attributed(match.group(1), not blocking and not ok, False, not blocking)
    if name == INIT_NAME:
        return Attributed(match.group(1), True, ok, True)
    return Attributed(match.group(1), False, False, True)


class IncidentCollector:
    def __init__(self, book: IncidentBook, media: dict[str, SpaceMedia],
                 on_air: Callable[[str], Awaitable[bool]],
                 bucket_seconds: float = limits.TIMELINE_BUCKET_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self.book = book
        self.media = media
        self.on_air = on_air
        self.bucket_seconds = bucket_seconds
        self.clock = clock
        self._tallies: dict[tuple[str, float], Tally] = {}
        self._cpu = (time.process_time(), time.monotonic())
        self._mixers: dict[str, tuple[int, int]] = {}  # space -> (ticks, late) last read
        self._backend_failures = 0  # periodic work's, for every Space on air here
        self._task: asyncio.Task[None] | None = None
        self._outage = Outage("incident timeline")
        # With the edge's access log read (EdgeLogTailer), the traffic figures are the
        # edge's: this origin then counts only what the edge cannot see.
        self.count_requests = True

    def bucket(self, now: float) -> float:
        return now // self.bucket_seconds * self.bucket_seconds

    def _tally(self, space_id: str, now: float) -> Tally | None:
        key = (space_id, self.bucket(now))
        tally = self._tallies.get(key)
        if tally is None:
            if len({s for s, _ in self._tallies}) >= MAX_SPACES_PER_FLUSH:
                return None
            tally = self._tallies[key] = Tally(start=key[1])
        return tally

    # -- what the HTTP edge and the beacon report --------------------------------------
    def request(self, path: str, query: str, address: str | None, status: int,
                seconds: float, refused: str | None = None,
                backend_failed: bool = False) -> None:
        where = attribute(path, query, status)
        if where is None or status == 404:  # no such Space: nothing to count it for
            return
        if not self.count_requests:
            if backend_failed and (tally := self._tally(where.space_id, self.clock())):
                tally.backend_failures += 1
            return
        tally = self._tally(where.space_id, self.clock())
        if tally is None:
            return
        tally.request(network_of(address or ""), status, refused=refused,
                      join_attempt=where.join_attempt, join_success=where.join_success,
                      answer_seconds=seconds if where.timed else None)
        tally.backend_failures += backend_failed

    def first_audio(self, space_id: str, seconds: float) -> None:
        tally = self._tally(space_id, self.clock())
        if tally is not None:
            tally.first_audio(seconds)

    def backend_failed(self) -> None:
        """Periodic work could not reach Redis or the database (townhall/app/outages.py)."""
        self._backend_failures += 1

    # -- every second ------------------------------------------------------------------
    def _sample_node(self, now: float) -> None:
        """This origin's CPU and each of its mixers since the last flush, for every Space
        it mixes (CPU is the node's: it is what that Space's audio depended on)."""
        cpu, wall = time.process_time(), time.monotonic()
        used, spent = cpu - self._cpu[0], wall - self._cpu[1]
        self._cpu = (cpu, wall)
        failures, self._backend_failures = self._backend_failures, 0
        for space_id, media in list(self.media.items()):
            tally = self._tally(space_id, now)
            if tally is None:
                continue
            worker = media.worker
            ticks, late = self._mixers.get(space_id, (0, 0))
            tally.mixer_ticks += worker.ticks - ticks
            tally.mixer_late += worker.late_ticks - late
            self._mixers[space_id] = (worker.ticks, worker.late_ticks)
            tally.cpu_seconds += used
            tally.cpu_wall += spent
            tally.backend_failures += failures
        for gone in set(self._mixers) - set(self.media):
            del self._mixers[gone]

    async def flush(self) -> None:
        self._sample_node(self.clock())
        tallies, self._tallies = self._tallies, {}
        on_air: dict[str, bool] = {}
        for (space_id, _), tally in tallies.items():
            if space_id not in on_air:
                on_air[space_id] = await self.on_air(space_id)
            if on_air[space_id]:
                await self.book.add(space_id, tally)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="incident-timeline")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            try:
                await self.flush()
            except BACKEND_ERRORS as exc:
                self._outage.failed(exc)
                self.backend_failed()
            else:
                self._outage.ok()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    # -- read --------------------------------------------------------------------------
    async def tallies(self, space_id: str) -> list[Tally]:
        return await self.book.tallies(space_id)

    async def finish(self, space_id: str) -> dict[str, object]:
        """The Space went off air: its timeline, to store with its audience figures."""
        try:
            await self.flush()
        except BACKEND_ERRORS as exc:
            self._outage.failed(exc)
        tallies = await self.book.finish(space_id)
        return {"timeline": {"bucket_seconds": self.bucket_seconds,
                             "tallies": [t.to_json() for t in tallies]}}


def timeline(tallies: Iterable[Tally], bucket_seconds: float) -> list[dict[str, object]]:
    """Each bucket's figures, verdict, rule and reason, oldest first."""
    out = []
    for tally in tallies:
        figures = tally.figures(bucket_seconds)
        verdict = judge(figures)
        out.append({**figures.to_json(), "verdict": verdict.verdict.value,
                    "rule": verdict.rule, "reason": verdict.reason})
    return out


def rules_written() -> list[dict[str, str]]:
    return [{"id": r.id, "verdict": r.verdict.value, "text": r.text} for r in RULES]


def stored_timeline(audience: dict | None) -> tuple[list[Tally], float]:  # type: ignore[type-arg]
    """A finished Space's stored timeline (in its audience figures' JSON)."""
    stored = dict((audience or {}).get("timeline") or {})
    seconds = float(stored.get("bucket_seconds", limits.TIMELINE_BUCKET_SECONDS))
    return [Tally.from_json(t) for t in stored.get("tallies", [])], seconds


# -- the edge's access log ----------------------------------------------------------------
def parse_edge_line(line: str) -> tuple[float, str, str, str, int, str | None, float] | None:
    """One `townhall_edge` line (townhall/edge/nginx.conf.j2): (time, client address,
    path, query, status, cache status, request time), or None if it is not one."""
    fields = line.rstrip("\n").split("\t")
    if len(fields) < 5:
        return None
    try:
        at, address, _method, uri, status = (float(fields[0]), fields[1], fields[2],
                                             fields[3], int(fields[4]))
    except ValueError:
        return None
    extra = dict(f.split("=", 1) for f in fields[5:-1] if "=" in f)
    try:
        seconds = float(fields[-1]) if len(fields) > 5 else 0.0
    except ValueError:
        seconds = 0.0
    parts = urlsplit(uri)
    return at, address, parts.path, parts.query, status, extra.get("cache"), seconds


def tally_edge_lines(lines: Iterable[str], bucket_seconds: float,
                     into: dict[tuple[str, float], Tally] | None = None
                     ) -> dict[tuple[str, float], Tally]:
    """The edge's view: per (Space, bucket) tallies from its access log lines. The edge
    logs when an answer ended, so a request counts in the bucket it ended in."""
    tallies = into if into is not None else {}
    for line in lines:
        parsed = parse_edge_line(line)
        if parsed is None:
            continue
        at, address, path, query, status, cache, seconds = parsed
        where = attribute(path, query, status)
        if where is None or status == 404:
            continue
        start = at // bucket_seconds * bucket_seconds
        tally = tallies.get((where.space_id, start))
        if tally is None:
            if len(tallies) >= MAX_SPACES_PER_FLUSH * 2:
                continue
            tally = tallies[(where.space_id, start)] = Tally(start=start, edge=True)
        tally.request(network_of(address), status, join_attempt=where.join_attempt,
                      join_success=where.join_success,
                      answer_seconds=seconds if where.timed else None, cache=cache)
    return tallies


class EdgeLogTailer:
    """Follows the edge's access log (TOWNHALL_EDGE_ACCESS_LOG, the edge on this
    machine or a shared volume) and adds its tallies to the book, so the timeline's
    traffic figures are the edge's: they hold when the origin is what fell over.
    Starts at the end of the file; follows it when it is rotated."""

    def __init__(self, path: Path, collector: IncidentCollector) -> None:
        self.path = path
        self.collector = collector
        self._task: asyncio.Task[None] | None = None
        self._position: tuple[int, int] | None = None  # (inode, offset)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="edge-log-tailer")

    def _read(self) -> list[str]:
        try:
            stat = os.stat(self.path)
        except OSError:
            return []
        inode, offset = self._position or (stat.st_ino, stat.st_size)
        if inode != stat.st_ino or offset > stat.st_size:
            offset = 0  # rotated or truncated: the new file from its start
        with open(self.path, "rb") as log_file:
            log_file.seek(offset)
            lines: list[bytes] = []
            for _ in range(EDGE_LINES_PER_PASS):
                line = log_file.readline()
                if not line.endswith(b"\n"):
                    break  # none, or half-written: read it next time
                lines.append(line)
            self._position = (stat.st_ino, offset + sum(len(b) for b in lines))
        return [b.decode(errors="replace") for b in lines]

    async def pass_once(self) -> None:
        lines = await asyncio.to_thread(self._read)
        tallies = tally_edge_lines(lines, self.collector.bucket_seconds)
        for (space_id, _), tally in tallies.items():
            if await self.collector.on_air(space_id):
                await self.collector.book.add(space_id, tally)

    async def _run(self) -> None:
        while True:
            try:
                await self.pass_once()
            except BACKEND_ERRORS as exc:
                log.warning("edge log: %s", exc)
            await asyncio.sleep(EDGE_POLL_SECONDS)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def edge_log_report(path: Path, bucket_seconds: float, space_id: str | None = None) -> str:
    """`townhall incidents ingest --edge-log PATH`: the timeline of every Space in an edge
    access log, as JSON (verdicts from the edge's figures alone: no origin needed)."""
    import json

    tallies: dict[tuple[str, float], Tally] = {}
    with open(path, "rb") as log_file:
        for chunk in iter(lambda: log_file.readlines(1 << 20), []):
            tally_edge_lines((b.decode(errors="replace") for b in chunk), bucket_seconds,
                             tallies)
    spaces: dict[str, list[Tally]] = {}
    for (space, _), tally in sorted(tallies.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        if space_id is None or space == space_id:
            spaces.setdefault(space, []).append(tally)
    return json.dumps({"bucket_seconds": bucket_seconds, "rules": rules_written(),
                       "spaces": {s: timeline(t, bucket_seconds) for s, t in spaces.items()}},
                      indent=1)
