"""Server CPU per listener: Townhall (nginx edge + origin, LL-HLS; Varnish edge +
origin, LL-DASH) next to Debian's icecast2 (one 64 kb/s MP3 mount), at the same
audience sizes, in the same run (issues #4, #16).

    .venv/bin/python -m benchmarks.icecast_side_by_side                 # 250, 1000, 2000
    .venv/bin/python -m benchmarks.icecast_side_by_side --quick         # 50 and 200, short
    .venv/bin/python -m benchmarks.icecast_side_by_side --levers        # + the levers
    .venv/bin/python -m benchmarks.icecast_side_by_side --dash-only --dash-sizes 3000

Townhall: one `townhall demo` origin (AAC 64 kb/s, 0.256 s parts) behind a fresh
`NginxEdge` per step; listeners are wrk connections running benchmarks/ll_hls_listener.lua
(each one hls.js-like low-latency player: blocking reload, then the part).
Icecast: icecast2 with a generated config on a loopback port (Debian's limits: 64 KB
burst-on-connect), one mount fed in real time with a 64 kb/s MP3 program
(benchmarks/_icecast.py); listeners are held by an asyncio generator in its own process
(a GET of the mount each, read as it comes; opened a few at a time, because icecast2
listens with a backlog of 5), measured once all are connected.

Per step, over a steady window, CPU time (townhall.testing.cpu): Townhall = nginx master and
workers + the origin process; Icecast = the icecast2 process. The source and the load
generators are reported apart. The figure: server CPU-seconds per 1,000
listener-minutes, and Townhall / Icecast.

Latency: Townhall, the age of each part when a player held it (after its last sample's
EXT-X-PROGRAM-DATE-TIME), plus PART-HOLD-BACK (the buffer an LL-HLS player keeps) =
what a listener hears behind the mixer. Icecast, a measuring listener decodes the
stream and times the source's markers: when a player that starts on the first byte
(no buffer of its own) plays each marker, behind the moment the source sent it.

`--levers` adds Townhall rows for the levers in /work/shared/FIELD-NOTES.md that need no
change to Townhall: the edge without its access log, and parts of 0.512 s (4 per
segment, origin patched by benchmarks/_parts.py, edge lock timeout 700 ms).

LL-DASH via Varnish (issue #16): the same origin behind a fresh `VarnishEdge` per step
(townhall/edge/varnish.py's VCL and PARAMETERS); listeners are dash.js-like players
held by benchmarks/_dash_listeners.py in its own process (each from its own 127.20.x.y
address, joining at `--dash-join-rate` per second): clock, MPD and init at join, then
each 8.192 s segment asked for at its availability time and read as its 1.024 s
chunks stream, the MPD every 30 s (DASH_MANIFEST_REFRESH_SECONDS). The window is
whole segments long and ends just before a segment becomes available, so every origin
fetch of a segment that starts in it has ended in it. `--dash-levers` adds rows with
other varnishd parameters, the MPD every 8 s, and 2.048 s chunks (an origin and a
generator patched by benchmarks/_parts.py, after every size's Icecast row).
`--dash-sizes` (default: `--sizes` and 3000) adds an Icecast step at any size Icecast
has not run at, so every ratio is to Icecast in the same run.

The figures per row, and what limits each:
* server CPU per 1,000 listener-minutes: the server processes' CPU-seconds over the
  window (nginx master + workers, or varnishd manager + cache process; + the origin
  process; icecast2) / listener-minutes. Limited by the window's length (15-33 s),
  by other work on the 2 shared cores (the `rest` column), and by the load generator
  sharing those cores (its CPU is shown apart; it is not counted).
* requests per listener-second: client requests in the window / (listeners x window),
  counted by the edge's access log (nginx; the same requests wrk made) or by the DASH
  generator; for Icecast, connections opened in the window (0 once all are in). A
  listener's joining requests (clock, MPD, init) fall before the window.
  Per listener-hour = that x 3600: what a CDN bills per request.
* origin requests per unit: LL-HLS, origin requests per 0.256 s part (nginx's log);
  LL-DASH, the fetches varnishd sent to the origin (`varnishncsa -b`) for the segments
  that became available in the window, per segment, and all its backend requests in
  the window (MPD refreshes, at most one a second: max-age=1) per segment
  (MAIN.backend_req). Limited by the window: 4 segments (--quick: 2).
* delay: LL-DASH, per chunk a listener got, the time it was complete at the listener
  after its last sample's wall time (Period@start + media end), on the machine's clock;
  the generator's own event-loop lag is in it, and so is any CPU starvation of varnishd
  by other work. LL-HLS, the part age when held (no PART-HOLD-BACK). Icecast, marker
  arrival after the source sent it, past the connect burst (one listener).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks._common import (
    REPO_ROOT,
    Deadline,
    free_port,
    log,
    percentile,
    print_table,
    stop_process,
)
from benchmarks._icecast import (
    BITRATE,
    DEFAULT_BURST,
    MOUNT,
    Icecast,
    Source,
    make_program,
    measure_listener,
)
from benchmarks._parts import DASH_CHUNK_ENV, DASH_CHUNKS_ENV
from benchmarks.edge_scale import (
    Step,
    limit_of,
    raise_fd_limit,
    run_step,
    running_origin,
    workers_for,
)
from townhall import limits
from townhall.media import dash
from townhall.testing import cpu
from townhall.testing.squid import SquidEdge
from townhall.testing.varnish import VarnishEdge

DEFAULT_SIZES = [250, 1000, 2000]
# What a run may ask for: listeners per size, and seconds per step.
MAX_LISTENERS = 9000
MIN_DURATION, MAX_DURATION = 5.0, 300.0
# Seconds Icecast listeners get to connect (see icecast_step).
JOIN_ALLOWANCE = 60.0
# The LL-DASH step: one audience size beyond the others (the generator holds it).
DASH_EXTRA_SIZE = 3000
# DASH players joining per second: a spread join (a real audience arrives over minutes).
# Each join is a clock request the edge passes to the origin: at 200/s on this shared
# machine the origin's /healthz missed the edge's 500 ms probe, the edge marked it sick
# and answered 503 to everything (2026-12-03, 3,000 players).
DASH_JOIN_RATE = 100.0
# Whole segments per DASH window (--quick: 2): origin fetches per segment need several.
DASH_WINDOW_SEGMENTS = 4
# The DASH window ends this long before a segment becomes available (see dash_step).
DASH_WINDOW_MARGIN = 0.3
# Kept up: at least this many seconds of audio a second (one that kept up got ~0.98;
# the window's edges cut a chunk off).
KEPT_UP_CHUNK_SHARE = 0.9


@dataclass
class Variant:
    name: str
    part_frames: int | None = None
    parts_per_segment: int | None = None
    access_log: bool = True
    lock_timeout: str | None = None
    mode: str = "parts"
    http_extra: str = ""

    @property
    def part_seconds(self) -> float:
        """Seconds of audio per unit a player fetches (a part, or a segment)."""
        part = 0.256 * (self.part_frames or 12) / 12
        return part * 8 if self.mode == "segments" else part

    @property
    def hold_back(self) -> float:
        """How far behind the newest unit a player plays: PART-HOLD-BACK (3 parts), or
        3 target durations for a player of segments (hls.js's default)."""
        return 3 * self.part_seconds


DEFAULT = Variant("Townhall (defaults)")
# nginx keeps cached files open (the proxy cache opens one per hit otherwise).
OPEN_FILE_CACHE = "open_file_cache max=10000 inactive=30s; open_file_cache_valid 60s;"
LEVERS = [
    Variant("Townhall, edge without access log", access_log=False),
    Variant("Townhall, edge with open_file_cache", http_extra=OPEN_FILE_CACHE),
    Variant("Townhall, 0.512 s parts (experiment)", part_frames=24, parts_per_segment=4,
            lock_timeout="700ms"),
    Variant("Townhall, 0.512 s parts + open_file_cache, no access log (experiment)",
            part_frames=24, parts_per_segment=4, lock_timeout="700ms", access_log=False,
            http_extra=OPEN_FILE_CACHE),
    # A blocking reload for a whole segment waits up to a segment (2.048 s) at the
    # origin: the edge's cache lock must outwait it, or every waiter goes to the origin.
    Variant("Townhall, players of whole segments (not LL)", mode="segments",
            lock_timeout="2500ms"),
]


@dataclass
class IcecastStep:
    listeners: int
    duration: float  # the step's nominal duration
    window: float
    cpu_pct: float  # icecast2, % of one core
    wrk_cpu_pct: float
    rest_cpu_pct: float
    bytes_per_listener_s: float  # whole run, burst included
    socket_errors: dict[str, int]
    play_latency_p50: float
    play_latency_max: float
    burst_seconds: float
    arrival_latency_p50: float  # after the burst
    stalled: bool
    # From icecast's access log: listeners that left, the median bytes each got, and how
    # many got less than a second of audio.
    logged_listeners: int = 0
    logged_median_bytes: int = 0
    logged_starved: int = 0
    connected: int = 0  # listeners icecast counted at the end of the window
    connected_at_start: int = 0  # ... and at its start
    logged_seconds: int = 0  # sum over logged listeners
    arrival_latency_p95: float = float("nan")  # after the burst
    connections_in_window: int = 0  # connections the generator opened in the window

    @property
    def listeners_in_window(self) -> float:
        """Listeners connected through the window (the mean of its start and end; all
        asked for when icecast's count was not read): fewer may connect in the allowance."""
        if not self.connected or not self.connected_at_start:
            return self.listeners
        return (self.connected + self.connected_at_start) / 2

    @property
    def requests_per_listener_s(self) -> float:
        return self.connections_in_window / (self.listeners_in_window * self.window)

    @property
    def cpu_s_per_1000_listener_min(self) -> float:
        return self.cpu_pct / 100 * self.window / (self.listeners_in_window * self.window / 60) \
            * 1000

    def real_time_ratio(self, burst_bytes: int) -> float:
        """Seconds of audio per second each listener got, the connect burst left out
        (from icecast's access log: bytes and whole seconds of each listener)."""
        seconds = self.logged_seconds or 1
        return (self.bytes_per_listener_s * seconds - self.logged_listeners * burst_bytes) \
            / seconds * 8 / BITRATE


def cpu_s_per_1000_listener_min(step: Step) -> float:
    server_cpu = (step.nginx_cpu_pct + step.origin_cpu_pct) / 100 * step.window
    return server_cpu / (step.listeners * step.window / 60) * 1000


class RampedListeners:
    """`python -m benchmarks._icecast PORT N SECONDS` in its own process (so its CPU is
    its own): opens N listeners a few at a time and reads them until stopped."""

    def __init__(self, port: int, listeners: int, seconds: float, path: str = MOUNT) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._icecast", str(port), str(listeners),
             f"{seconds:g}", path], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
        self.pid = self.process.pid
        self.started = time.monotonic()
        self.latest: dict[str, int] = {}
        self.final: dict[str, int] | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("FINAL "):
                self.final = json.loads(line[6:])
            elif line.startswith("{"):
                self.latest = json.loads(line)

    def stop(self) -> dict[str, int]:
        stop_process(self.process, signal.SIGINT, timeout=20)
        self._reader.join(timeout=5)
        return self.final or self.latest


def edge_cpu_s_per_1000_listener_min(step: Step) -> float:
    """nginx alone: what each further listener costs (the origin's work is per Space)."""
    return step.nginx_cpu_pct / 100 * step.window / (step.listeners * step.window / 60) * 1000


def icecast_step(icecast: Icecast, source: Source, listeners: int, duration: float,
                 warmup: float, deadline: Deadline) -> IcecastStep:
    assert icecast.process is not None
    pid = icecast.process.pid
    window_seconds = duration - warmup - 1.0
    log(f"icecast step {listeners} listeners: connecting them (at most "
        f"{JOIN_ALLOWANCE:g} s), then {warmup:g} s, then a {window_seconds:g} s window")
    log_offset = icecast.log_offset()
    # icecast2 listens with a backlog of 5: connections opened all at once (wrk) wait for
    # SYN retransmits, so the generator opens them a few at a time (benchmarks/_icecast.py).
    run = RampedListeners(icecast.port, listeners, JOIN_ALLOWANCE + duration + 10)
    joined_by = time.monotonic() + JOIN_ALLOWANCE
    connected = 0
    while time.monotonic() < joined_by:
        deadline.check("waiting for Icecast listeners to connect")
        connected = icecast.listener_count()
        if connected >= listeners:
            break
        time.sleep(1.0)
    log(f"  {connected} of {listeners} listeners connected after "
        f"{time.monotonic() - run.started:.1f} s (generator: {run.latest})")
    time.sleep(warmup)
    opened0 = run.latest.get("opened", 0)
    at_start = icecast.listener_count()
    ice0, wrk0 = cpu.process_seconds(pid), cpu.process_seconds(run.pid)
    busy0, mono0 = cpu.machine_busy_seconds(), time.monotonic()
    # One measuring listener, in a thread of this process, for the rest of the window.
    measure_seconds = max(3.0, window_seconds - 1.0)
    holder: dict[str, object] = {}
    thread = threading.Thread(target=lambda: holder.update(
        m=measure_listener(icecast.port, source, measure_seconds)), daemon=True)
    thread.start()
    end = mono0 + window_seconds
    next_report = time.monotonic() + 5
    while time.monotonic() < end:
        deadline.check("running an Icecast step")
        time.sleep(min(0.5, max(0.0, end - time.monotonic())))
        if time.monotonic() >= next_report:
            next_report += 5
            log(f"  icecast2 CPU so far {100 * (cpu.process_seconds(pid) - ice0) / (time.monotonic() - mono0):.1f}%"
                f" of a core, {icecast.listener_count()} listeners")
    in_window = icecast.listener_count()
    ice1, wrk1 = cpu.process_seconds(pid), cpu.process_seconds(run.pid)
    busy1, mono1 = cpu.machine_busy_seconds(), time.monotonic()
    opened1 = run.latest.get("opened", 0)  # the generator reports every 2 s
    result = run.stop()
    thread.join(timeout=measure_seconds + 15)
    time.sleep(1.0)  # icecast logs a listener when it notices the disconnect
    logged = icecast.listeners_logged(log_offset)
    starved = sum(1 for sent, _ in logged if sent < 8000)
    window = mono1 - mono0
    pct = lambda a, b: 100 * (b - a) / window  # noqa: E731
    measured = holder.get("m")
    play = getattr(measured, "play_latencies", []) or [float("nan")]
    arrival = getattr(measured, "arrival_latencies", []) or [float("nan")]
    burst = getattr(measured, "burst_seconds", float("nan"))
    if measured is not None and getattr(measured, "error", ""):
        log(f"  measuring listener: {measured.error}")  # type: ignore[union-attr]
    # Arrival delay of markers once the burst is over (those in the burst came at once).
    after_burst = arrival[len(arrival) // 2:] if len(arrival) > 1 else arrival
    step = IcecastStep(
        listeners=listeners, duration=duration, window=window, cpu_pct=pct(ice0, ice1),
        wrk_cpu_pct=pct(wrk0, wrk1),
        rest_cpu_pct=pct(busy0, busy1) - pct(ice0, ice1) - pct(wrk0, wrk1),
        bytes_per_listener_s=(sum(b for b, _ in logged) / max(1, sum(t for _, t in logged))),
        socket_errors={"failed": result.get("failed", -1), "lost": result.get("lost", -1)},
        play_latency_p50=statistics.median(play), play_latency_max=max(play),
        burst_seconds=burst, arrival_latency_p50=statistics.median(after_burst),
        arrival_latency_p95=percentile(after_burst, 95),
        connections_in_window=max(0, opened1 - opened0),
        stalled=bool(getattr(measured, "stalled", False)),
        logged_listeners=len(logged),
        logged_median_bytes=int(statistics.median([b for b, _ in logged])) if logged else 0,
        logged_starved=starved, connected=in_window, connected_at_start=at_start,
        logged_seconds=sum(t for _, t in logged))
    log(f"icecast step {listeners}: icecast2 {step.cpu_pct:.1f}% of a core, "
        f"{step.cpu_s_per_1000_listener_min:.2f} CPU-s per 1000 listener-min; listeners got "
        f"{step.bytes_per_listener_s:.0f} B/s each; marker played {step.play_latency_p50:.2f} s "
        f"behind the source (burst {burst:.2f} s); generator {step.wrk_cpu_pct:.0f}%, rest "
        f"{step.rest_cpu_pct:.0f}%; {in_window} connected; generator {result}; icecast logged "
        f"{len(logged)} listeners, median {step.logged_median_bytes} B, {starved} with < 1 s "
        "of audio")
    return step


# --- LL-DASH through Varnish ------------------------------------------------------------


@dataclass
class DashVariant:
    name: str
    parameters: dict[str, str] = field(default_factory=dict)  # varnishd -p overrides
    # How often the players re-read the MPD.
    manifest_refresh: float = limits.DASH_MANIFEST_REFRESH_SECONDS
    # The edge in front of the origin: "varnish" (shipped) or "squid" (a lever).
    edge: str = "varnish"
    # Parts per chunk (segments stay 8.192 s); other than the default, the origin and the
    # generator run with patched limits (benchmarks/_parts.py).
    chunk_parts: int = limits.DASH_PARTS_PER_CHUNK

    @property
    def chunk_seconds(self) -> float:
        return self.chunk_parts * dash.PART_SAMPLES / limits.SAMPLE_RATE

    @property
    def patched_env(self) -> dict[str, str]:
        if self.chunk_parts == limits.DASH_PARTS_PER_CHUNK:
            return {}
        return {DASH_CHUNK_ENV: str(self.chunk_parts),
                DASH_CHUNKS_ENV: str(dash.PARTS_PER_SEGMENT // self.chunk_parts)}


DASH_DEFAULT = DashVariant("LL-DASH via Varnish")
DASH_LEVERS = [
    DashVariant("LL-DASH via Varnish, thread_pools=2", {"thread_pools": "2"}),
    DashVariant("LL-DASH via Varnish, timeout_idle=5", {"timeout_idle": "5"}),
    # What the MPD refresh cost when players re-read it every 8 s (before 2026-12-03 late).
    DashVariant("LL-DASH via Varnish, MPD every 8 s", manifest_refresh=8.0),
    # Half the chunks per listener-second (the lever), at ~1 s more latency.
    DashVariant("LL-DASH via Varnish, 2.048 s chunks", chunk_parts=8),
]
# Another edge: one event loop writes each chunk to every reader (townhall/testing/squid.py).
DASH_SQUID = DashVariant("LL-DASH via Squid", edge="squid")


@dataclass
class DashStep:
    variant: str
    listeners: int
    playing: int  # listeners playing in the window
    window: float
    varnish_cpu_pct: float  # varnishd manager + cache process, % of one core
    origin_cpu_pct: float
    generator_cpu_pct: float
    softirq_pct: float
    rest_cpu_pct: float  # everything else, other people's work included
    requests: int  # client requests in the window (the generator's count)
    listener_seconds: float
    chunks_per_listener_s: float
    chunk_seconds: float  # the variant's chunk length
    segments: int  # segments that became available in the window
    origin_segment_requests: int  # segment fetches sent to the origin in the window
    origin_requests: int  # MAIN.backend_req over the window
    origin_urls: dict[str, int]
    chunk_delay_p50: float
    chunk_delay_p95: float
    chunk_delay_p99: float
    chunk_delay_max: float
    chunks: int
    clock_offset_p50: float  # |a player's estimate of the server clock - the clock|
    clock_offset_max: float
    errors: dict[str, int]
    varnish: dict[str, int]  # a few varnishstat counters at the end of the window

    @property
    def cpu_s_per_1000_listener_min(self) -> float:
        server = (self.varnish_cpu_pct + self.origin_cpu_pct) / 100 * self.window
        return server / (self.playing * self.window / 60) * 1000

    @property
    def edge_cpu_s_per_1000_listener_min(self) -> float:
        return self.varnish_cpu_pct / 100 * self.window / (self.playing * self.window / 60) \
            * 1000

    @property
    def requests_per_listener_s(self) -> float:
        return self.requests / self.listener_seconds if self.listener_seconds else math.nan

    @property
    def origin_requests_per_segment(self) -> float:
        return self.origin_segment_requests / self.segments if self.segments else math.nan

    @property
    def all_origin_requests_per_segment(self) -> float:
        return self.origin_requests / self.segments if self.segments else math.nan

    @property
    def kept_up(self) -> bool:
        return self.chunks_per_listener_s * self.chunk_seconds >= KEPT_UP_CHUNK_SHARE and \
            self.playing >= 0.99 * self.listeners and self.chunk_delay_p95 < 1.0

    def figures(self) -> dict[str, float]:
        return {"cpu_s_per_1000_listener_min": self.cpu_s_per_1000_listener_min,
                "edge_cpu_s_per_1000_listener_min": self.edge_cpu_s_per_1000_listener_min,
                "requests_per_listener_s": self.requests_per_listener_s,
                "origin_requests_per_segment": self.origin_requests_per_segment,
                "all_origin_requests_per_segment": self.all_origin_requests_per_segment,
                "kept_up": self.kept_up, "limit": dash_limit(self)}


def dash_limit(step: DashStep) -> str:
    """What held a DASH step back, from who used the CPU (as edge_scale.limit_of)."""
    busy = {"varnishd": step.varnish_cpu_pct, "origin": step.origin_cpu_pct,
            "generator": step.generator_cpu_pct}
    total = sum(busy.values()) + step.rest_cpu_pct
    hot = max(busy, key=busy.get)  # type: ignore[arg-type]
    what = f"{hot} ({busy[hot]:.0f}% of a core)"
    if total >= 170:
        what = f"the 2 cores ({total:.0f}% busy; most: {what})"
    elif step.generator_cpu_pct >= 80:
        what = f"the generator ({step.generator_cpu_pct:.0f}% of a core)"
    elif step.kept_up:
        return "none (kept up)"
    return ("kept up, near " if step.kept_up else "fell behind: ") + what


class DashListeners:
    """`python -m benchmarks._dash_listeners` in its own process (its CPU is its own):
    SIGUSR1 / SIGUSR2 open and close the measuring window."""

    def __init__(self, edge_url: str, listeners: int, seconds: float, join_rate: float,
                 variant: DashVariant) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._dash_listeners", edge_url, "demo",
             str(listeners), f"{seconds:g}", f"{join_rate:g}", f"{variant.manifest_refresh:g}"],
            stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT,
            env={**os.environ, **variant.patched_env})
        self.pid = self.process.pid
        self.latest: dict[str, int] = {}
        self.window: dict[str, Any] | None = None
        self.final: dict[str, int] | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            kind, _, data = line.partition(" ")
            if kind == "STATUS":
                self.latest = json.loads(data)
            elif kind == "WINDOW":
                self.window = json.loads(data)
            elif kind == "FINAL":
                self.final = json.loads(data)

    def start_window(self) -> None:
        self.process.send_signal(signal.SIGUSR1)

    def end_window(self, timeout: float = 15.0) -> dict[str, Any]:
        self.process.send_signal(signal.SIGUSR2)
        end = time.monotonic() + timeout
        while self.window is None and time.monotonic() < end:
            time.sleep(0.05)
        if self.window is None:
            raise RuntimeError("the DASH generator did not report its window")
        return self.window

    def stop(self) -> dict[str, int]:
        stop_process(self.process, signal.SIGINT, timeout=20)
        self._reader.join(timeout=5)
        return self.final or self.latest


_PERIOD_START = re.compile(r'<Period id="run-\d+" start="PT([0-9.]+)S"')


def period_start(client: httpx.Client, url: str) -> float:
    """The newest Period's start (seconds since the epoch) from the MPD at `url`."""
    for _ in range(40):
        response = client.get(url, timeout=10)
        starts = _PERIOD_START.findall(response.text) if response.status_code == 200 else []
        if starts:
            return float(starts[-1])
        time.sleep(0.5)
    raise RuntimeError(f"no Period in {url}")


def ratio(cost: float, icecast_cost: float) -> float:
    """cost × Icecast's; NaN when Icecast's CPU was below the clock's resolution (a short
    window with few listeners reads 0.0)."""
    return cost / icecast_cost if icecast_cost > 0 else math.nan


def wait_for_first_segment(origin_url: str, variant: DashVariant) -> None:
    """A new origin's Space: until its first segment is whole (and its next one's first
    chunk is out), as the long-running default origin's is when its DASH steps run."""
    with httpx.Client() as client:
        start = period_start(client, f"{origin_url}/hls/demo/{dash.MANIFEST_NAME}")
    time.sleep(max(0.0, start + dash.SEGMENT_SECONDS + variant.chunk_seconds - time.time()))


class BackendLog:
    """varnishncsa -b (one line per request varnishd sent to an origin, written when it
    ended) for a window: a separate reader of varnishd's shared memory, not counted."""

    FORMAT = "%{%s}t.%{msec_frac}t %U %s"
    SETTLE = 2.0  # seconds

    def __init__(self, edge: VarnishEdge) -> None:
        self.path = edge.workdir / "backend.log"
        self.process = subprocess.Popen(
            ["varnishncsa", "-n", str(edge.name_dir), "-b", "-F", self.FORMAT,
             "-w", str(self.path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self, t0: float, t1: float, segments: range) -> dict[str, int]:
        """Origin requests by kind: fetches of `segments` (the segments that became
        available in the window) whenever they were sent (a player whose clock estimate
        runs early asks before the availability time), and the others (manifest, clock,
        other) sent in [t0, t1]."""
        stop_process(self.process, signal.SIGTERM, timeout=5)
        kinds: dict[str, int] = {}
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return kinds
        for line in lines:
            fields = line.split()
            if len(fields) < 2:
                continue
            name = fields[1].rsplit("/", 1)[-1]
            segment = dash.parse_segment_file(name)
            if segment is not None:
                if segment[1] in segments:
                    kinds["segment"] = kinds.get("segment", 0) + 1
                continue
            if not t0 <= float(fields[0]) <= t1:
                continue
            kind = "manifest" if name == dash.MANIFEST_NAME else \
                "clock" if name == "clock" else "other"
            kinds[kind] = kinds.get(kind, 0) + 1
        return kinds


VARNISH_COUNTERS = ["MAIN.threads", "MAIN.sess_conn", "MAIN.sess_dropped", "MAIN.sess_fail",
                    "MAIN.threads_limited", "MAIN.sess_queued", "MAIN.busy_sleep",
                    "MAIN.busy_wakeup", "MAIN.cache_hit", "MAIN.cache_miss",
                    "MAIN.client_req", "MAIN.backend_req"]


def dash_step(origin_url: str, origin_pid: int, variant: DashVariant, listeners: int,
              warmup: float, window_segments: int, join_rate: float, workdir: Path,
              deadline: Deadline) -> DashStep:
    """One step: a fresh Varnish edge, `listeners` DASH players; once all play and each
    has had a whole segment (warm-up), a window of `window_segments` segments that ends
    DASH_WINDOW_MARGIN before a segment becomes available: the origin fetch of every
    segment that became available in the window has ended inside it."""
    origin_host = origin_url.removeprefix("http://")
    edge_class = SquidEdge if variant.edge == "squid" else VarnishEdge
    with edge_class([origin_host], workdir, parameters=variant.parameters) as edge, \
            httpx.Client() as client:
        start = period_start(client, f"{edge.url}/hls/demo/{dash.MANIFEST_NAME}")
        log(f"dash step {listeners} listeners ({variant.name}): varnishd {edge.url} pids "
            f"{edge.pids()}; joining at {join_rate:g}/s, then a {warmup:g} s warm-up, then "
            f"{window_segments} segments")
        budget = JOIN_ALLOWANCE + warmup + (window_segments + 2) * dash.SEGMENT_SECONDS + 30
        run = DashListeners(edge.url, listeners, budget, join_rate, variant)
        try:
            joined_by = time.monotonic() + JOIN_ALLOWANCE
            while time.monotonic() < joined_by:
                deadline.check("waiting for DASH listeners to join")
                if run.latest.get("playing", 0) >= listeners or run.process.poll() is not None:
                    break
                time.sleep(0.5)
            log(f"  {run.latest.get('playing', 0)} of {listeners} playing (generator: "
                f"{run.latest})")
            time.sleep(warmup)
            # The window: from just before a segment's availability to just before the
            # availability of the segment window_segments later.
            # At least 2 s ahead: the backend log is reading before any fetch of the
            # window's first segment (a player with an early clock asks before it).
            backend = BackendLog(edge) if isinstance(edge, VarnishEdge) else None
            now = time.time()
            first = math.ceil((now + DASH_WINDOW_MARGIN + 2.0 - start - variant.chunk_seconds)
                              / dash.SEGMENT_SECONDS)
            t0 = start + first * dash.SEGMENT_SECONDS + variant.chunk_seconds - DASH_WINDOW_MARGIN
            t1 = t0 + window_segments * dash.SEGMENT_SECONDS
            time.sleep(max(0.0, t0 - time.time()))
            run.start_window()
            origin0 = edge.origin_requests()
            v0, o0, g0 = edge.cpu_seconds(), cpu.process_seconds(origin_pid), \
                cpu.process_seconds(run.pid)
            busy0, irq0, mono0 = cpu.machine_busy_seconds(), cpu.softirq_seconds(), \
                time.monotonic()
            next_report = mono0 + 8
            while time.time() < t1:
                deadline.check("running a DASH step")
                time.sleep(min(0.5, max(0.0, t1 - time.time())))
                if time.monotonic() >= next_report:
                    next_report += 8
                    so_far = (edge.cpu_seconds() - v0) / (time.monotonic() - mono0)
                    log(f"  varnishd {100 * so_far:.1f}% of a core so far; generator "
                        f"{run.latest}")
            v1, o1, g1 = edge.cpu_seconds(), cpu.process_seconds(origin_pid), \
                cpu.process_seconds(run.pid)
            busy1, irq1, mono1 = cpu.machine_busy_seconds(), cpu.softirq_seconds(), \
                time.monotonic()
            measured = run.end_window()
            counters = edge.counters()
            origin1 = edge.origin_requests()
            # varnishncsa reads the shared memory log in batches: give it time to write
            # the last fetch of the window (it ended ~1 s before the window did).
            time.sleep(BackendLog.SETTLE)
            urls = backend.stop(t0, t1, range(first, first + window_segments)) if backend \
                else {}
        finally:
            final = run.stop()
    window = mono1 - mono0
    pct = lambda a, b: 100 * (b - a) / window  # noqa: E731
    varnish, origin, generator = pct(v0, v1), pct(o0, o1), pct(g0, g1)
    delta: dict[str, int] = measured["delta"]
    if sum(urls.values()) != origin1 - origin0:  # e.g. a segment fetched before t0
        log(f"  note: varnishncsa saw {sum(urls.values())} origin requests in the window, "
            f"MAIN.backend_req {origin1 - origin0}")
    delay: dict[str, float] = measured["delay"]
    offsets: dict[str, float] = measured.get("clock_offset", {})
    step = DashStep(
        variant=variant.name, listeners=listeners, playing=int(measured["playing"]),
        window=window, varnish_cpu_pct=varnish, origin_cpu_pct=origin,
        generator_cpu_pct=generator, softirq_pct=pct(irq0, irq1),
        rest_cpu_pct=pct(busy0, busy1) - varnish - origin - generator,
        requests=delta["requests"], listener_seconds=float(measured["listener_seconds"]),
        chunks_per_listener_s=float(measured["chunks_per_listener_s"]),
        chunk_seconds=variant.chunk_seconds, segments=window_segments,
        origin_segment_requests=urls.get("segment", 0),
        origin_requests=origin1 - origin0, origin_urls=urls,
        chunk_delay_p50=delay["p50"], chunk_delay_p95=delay["p95"],
        chunk_delay_p99=delay["p99"], chunk_delay_max=delay.get("max", math.nan),
        chunks=int(delay["n"]),
        clock_offset_p50=offsets.get("p50", math.nan),
        clock_offset_max=offsets.get("max", math.nan),
        errors={k: delta[k] for k in ("errors", "lost", "connect_failed", "late_segments")}
        | {"final_" + k: v for k, v in final.items() if k.startswith(("status_", "lost_"))}
        | {"final_" + k: final.get(k, -1) for k in ("errors", "lost", "late_segments")},
        varnish={k: counters.get(k, -1) for k in VARNISH_COUNTERS}
        | {k: v for k, v in counters.items() if k.startswith("MAIN.") and v
           and any(w in k for w in ("drop", "fail", "_err", "queued", "limited", "sc_"))})
    log(f"dash step {listeners} ({variant.name}): varnishd {varnish:.1f}% origin {origin:.1f}% "
        f"generator {generator:.1f}% rest {step.rest_cpu_pct:.1f}% of a core; "
        f"{step.cpu_s_per_1000_listener_min:.2f} CPU-s per 1000 listener-min; "
        f"{step.requests_per_listener_s:.3f} requests per listener-s; "
        f"{step.chunks_per_listener_s:.3f} chunks/s each; origin {urls} in {window_segments} "
        f"segments ({step.origin_requests_per_segment:.2f} segment fetches per segment, "
        f"{step.all_origin_requests_per_segment:.2f} requests in all); chunk delay p50/p95/max "
        f"{step.chunk_delay_p50:.3f}/{step.chunk_delay_p95:.3f}/{step.chunk_delay_max:.3f} s; "
        f"players' clock offsets p50/max {step.clock_offset_p50:.3f}/"
        f"{step.clock_offset_max:.3f} s; "
        f"errors {step.errors}; varnish {step.varnish}")
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="audience sizes, comma-separated")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per step")
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--levers", action="store_true", help="also the Townhall levers")
    parser.add_argument("--icecast-burst", type=int, default=DEFAULT_BURST,
                        help="Icecast burst-size in bytes (Debian's: 65535; 0 = no burst)")
    parser.add_argument("--dash-sizes", help="LL-DASH audience sizes (default: --sizes and "
                        f"{DASH_EXTRA_SIZE}); Icecast also runs at each")
    parser.add_argument("--dash-only", action="store_true",
                        help="Icecast and LL-DASH rows only (no LL-HLS rows)")
    parser.add_argument("--no-dash", action="store_true", help="no LL-DASH rows")
    parser.add_argument("--dash-levers", action="store_true",
                        help="also LL-DASH rows with other varnishd parameters, the MPD "
                        "every 8 s, and 2.048 s chunks (an origin of their own)")
    parser.add_argument("--dash-squid", action="store_true",
                        help="also LL-DASH rows through a Squid edge")
    parser.add_argument("--dash-join-rate", type=float, default=DASH_JOIN_RATE,
                        help="DASH players joining per second")
    parser.add_argument("--dash-window-segments", type=int, default=DASH_WINDOW_SEGMENTS,
                        help="segments (8.192 s) per DASH window")
    parser.add_argument("--quick", action="store_true",
                        help="50 and 200 listeners, 8 s steps (DASH: 2-segment windows)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.quick:
        sizes, args.duration, args.warmup = [50, 200], 8.0, 3.0
        args.dash_window_segments = min(args.dash_window_segments, 2)
    else:
        sizes = [int(s) for s in args.sizes.split(",")]
    if args.no_dash:
        dash_sizes: list[int] = []
    elif args.dash_sizes:
        dash_sizes = [int(s) for s in args.dash_sizes.split(",")]
    else:
        dash_sizes = sizes if args.quick else sorted({*sizes, DASH_EXTRA_SIZE})
    if args.dash_only:
        sizes = []
    all_sizes = sorted({*sizes, *dash_sizes})
    if not all_sizes or not all(1 <= s <= MAX_LISTENERS for s in all_sizes) or \
            not MIN_DURATION <= args.duration <= MAX_DURATION or \
            not 1 <= args.dash_window_segments <= 20 or not 1 <= args.dash_join_rate <= 2000:
        parser.error(f"sizes must be 1..{MAX_LISTENERS} listeners, "
                     f"duration {MIN_DURATION:g}..{MAX_DURATION:g} s, 1..20 DASH segments, "
                     "a join rate of 1..2000/s")
    variants = [DEFAULT, *(LEVERS if args.levers else [])]
    dash_variants = [DASH_DEFAULT, *(DASH_LEVERS if args.dash_levers else []),
                     *([DASH_SQUID] if args.dash_squid else [])]
    dash_warmup = max(args.warmup, dash.SEGMENT_SECONDS + 1)
    fd_limit = raise_fd_limit()
    dash_seconds = sum(n / args.dash_join_rate + dash_warmup + 35 for n in dash_sizes) * \
        len(dash_variants) + len(dash_sizes) * len(dash_variants) * \
        (args.dash_window_segments + 1) * dash.SEGMENT_SECONDS
    total = len(all_sizes) * (args.duration + 15 + JOIN_ALLOWANCE) + \
        len(sizes) * len(variants) * (args.duration + 15) + dash_seconds + \
        60 * len(variants) + 60
    deadline = Deadline(total + 120)
    log(f"load average {cpu.load_average()}; Icecast at {all_sizes}, LL-HLS at {sizes} "
        f"({len(variants)} rows), LL-DASH at {dash_sizes} ({len(dash_variants)} rows); about "
        f"{total / 60:.0f} min; open-file limit {fd_limit}")
    icecast_rows: dict[int, IcecastStep] = {}
    townhall_rows: dict[tuple[str, int], Step] = {}
    dash_rows: dict[tuple[str, int], DashStep] = {}
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="townhall-icecast-") as tmp_name:
        tmp = Path(tmp_name)
        program = make_program(tmp)

        def dash_row(origin: Any, variant: DashVariant, n: int) -> None:
            """One LL-DASH step; a failure is reported with the results, not raised."""
            try:
                dash_rows[(variant.name, n)] = dash_step(
                    origin.base_url, origin.process.pid, variant, n, dash_warmup,
                    args.dash_window_segments, args.dash_join_rate,
                    tmp / f"varnish-{len(dash_rows)}", deadline)
            except Exception as error:  # noqa: BLE001 - reported below
                log(f"dash step {n} ({variant.name}) failed: {error!r}")
                failed.append(f"{variant.name} at {n}: {error!r}")
        with Icecast(tmp / "icecast", free_port(), max(all_sizes) + 50,
                     args.icecast_burst) as ice:
            source = Source(program, ice.port, total + 60)
            source.start()
            source_started = time.monotonic()
            log(f"icecast2 pid {ice.process.pid if ice.process else '?'} on {ice.url}, "  # noqa
                f"burst-size {args.icecast_burst}; source sending {len(program.frames)} MP3 "
                "frames per loop in real time")
            # Variants that share an origin (same part size) run against one origin
            # process; at each size Icecast goes first, then each Townhall variant
            # (LL-HLS through nginx, then LL-DASH through Varnish).
            groups: dict[tuple[int | None, int | None], list[Variant]] = {}
            for variant in variants:
                groups.setdefault((variant.part_frames, variant.parts_per_segment),
                                  []).append(variant)
            for (frames, per_segment), group in groups.items():
                with running_origin(frames, per_segment) as origin:
                    log(f"origin pid {origin.process.pid} for: "
                        f"{', '.join(v.name for v in group)}")
                    for n in (all_sizes if DEFAULT in group else sizes):
                        if DEFAULT in group:
                            # A full burst buffer first (64 KB = 8.2 s of audio).
                            time.sleep(max(0.0, source_started + 10.0 - time.monotonic()))
                            if source.error:
                                raise RuntimeError(f"the Icecast source failed: {source.error!r}")
                            icecast_rows[n] = icecast_step(ice, source, n, args.duration,
                                                           args.warmup, deadline)
                        for variant in group if n in sizes else []:
                            townhall_rows[(variant.name, n)] = run_step(
                                origin.base_url, origin.process.pid, n,
                                workers_for(n, fd_limit), args.duration, args.warmup,
                                tmp / f"edge-{len(townhall_rows)}", deadline,
                                access_log=variant.access_log,
                                lock_timeout=variant.lock_timeout, mode=variant.mode,
                                http_extra=variant.http_extra)
                        if DEFAULT not in group or n not in dash_sizes:
                            continue
                        for dash_variant in (v for v in dash_variants if not v.patched_env):
                            dash_row(origin, dash_variant, n)
            # Variants with other chunks: their own patched origin, after every size's
            # Icecast row (the ratio is to Icecast at the same size in the same run).
            for dash_variant in (v for v in dash_variants if v.patched_env):
                with running_origin(extra_env=dash_variant.patched_env) as origin:
                    log(f"origin pid {origin.process.pid} for: {dash_variant.name}")
                    wait_for_first_segment(origin.base_url, dash_variant)
                    for n in dash_sizes:
                        dash_row(origin, dash_variant, n)
            source.stop_event.set()
            source.join(timeout=5)
    print()
    print(f"Townhall next to Icecast: {args.duration:g} s per step, measured over "
          f"{args.duration - args.warmup - 1:g} s (LL-DASH: {args.dash_window_segments} "
          f"segments of {dash.SEGMENT_SECONDS:.3f} s); load average at the end "
          f"{cpu.load_average()}; the source used {source.cpu_seconds:.2f} CPU-s in all")
    rows = []
    summary = []
    for n in all_sizes:
        ice = icecast_rows.get(n)
        if ice is None:
            continue
        ice_cost = ice.cpu_s_per_1000_listener_min
        rows.append([n, "Icecast 2.4.4 (MP3 64 kb/s)", f"{ice.cpu_pct:.1f}",
                     f"{ice_cost:.2f}", "1.00",
                     f"{ice.requests_per_listener_s:.3f}",
                     f"{ice.requests_per_listener_s * 3600:.0f}", "-",
                     f"{ice.arrival_latency_p50:.2f}/{ice.arrival_latency_p95:.2f} marker",
                     f"{ice.real_time_ratio(args.icecast_burst):.2f} s/s",
                     f"{ice.play_latency_p50:.2f} (burst {ice.burst_seconds:.2f})",
                     f"{ice.wrk_cpu_pct:.0f}", f"{ice.rest_cpu_pct:.0f}", "-"])
        summary.append({"listeners": n, "path": "icecast", "row": "Icecast 2.4.4",
                        "cpu_s_per_1000_listener_min": ice_cost,
                        "edge_cpu_s_per_1000_listener_min": ice_cost,
                        "edge_cpu_pct": ice.cpu_pct, "origin_cpu_pct": 0.0, "ratio": 1.0,
                        "listeners_in_window": ice.listeners_in_window,
                        "requests_per_listener_s": ice.requests_per_listener_s,
                        "delay_p50": ice.arrival_latency_p50,
                        "delay_p95": ice.arrival_latency_p95,
                        "kept_up": ice.real_time_ratio(args.icecast_burst) >= 0.9,
                        "generator_cpu_pct": ice.wrk_cpu_pct, "rest_cpu_pct": ice.rest_cpu_pct})
        for variant in variants:
            step = townhall_rows.get((variant.name, n))
            if step is None:
                continue
            cost = cpu_s_per_1000_listener_min(step)
            edge_cost = edge_cpu_s_per_1000_listener_min(step)
            per_s = step.edge_requests / (step.listeners * step.window)
            rows.append([n, variant.name + " (LL-HLS via nginx)",
                         f"{step.nginx_cpu_pct:.1f} + {step.origin_cpu_pct:.1f}",
                         f"{cost:.2f} (edge {edge_cost:.2f})",
                         f"{ratio(cost, ice_cost):.2f} (edge {ratio(edge_cost, ice_cost):.2f})",
                         f"{per_s:.2f}", f"{per_s * 3600:.0f}",
                         f"{step.origin_requests_per_part:.2f} per part",
                         f"{step.age_p50:.2f}/{step.age_p95:.2f} part age",
                         f"{step.parts_per_player_s * variant.part_seconds:.2f} s/s",
                         f"{step.age_p50 + variant.hold_back:.2f} (+ hold-back "
                         f"{variant.hold_back:.3f})",
                         f"{step.wrk_cpu_pct:.0f}", f"{step.rest_cpu_pct:.0f}",
                         limit_of(step, 1 / variant.part_seconds)])
            summary.append({
                "listeners": n, "path": "ll-hls", "row": variant.name,
                "cpu_s_per_1000_listener_min": cost,
                "edge_cpu_s_per_1000_listener_min": edge_cost,
                "edge_cpu_pct": step.nginx_cpu_pct, "origin_cpu_pct": step.origin_cpu_pct,
                "ratio": ratio(cost, ice_cost), "requests_per_listener_s": per_s,
                "origin_requests_per_part": step.origin_requests_per_part,
                "origin_requests_per_s": step.origin_requests / step.window,
                "delay_p50": step.age_p50, "delay_p95": step.age_p95,
                "kept_up": step.parts_per_player_s * variant.part_seconds >= 0.9,
                "generator_cpu_pct": step.wrk_cpu_pct, "rest_cpu_pct": step.rest_cpu_pct,
                "limit": limit_of(step, 1 / variant.part_seconds)})
        for dash_variant in dash_variants:
            d = dash_rows.get((dash_variant.name, n))
            if d is None:
                continue
            cost, edge_cost = d.cpu_s_per_1000_listener_min, d.edge_cpu_s_per_1000_listener_min
            rows.append([n, d.variant, f"{d.varnish_cpu_pct:.1f} + {d.origin_cpu_pct:.1f}",
                         f"{cost:.2f} (edge {edge_cost:.2f})",
                         f"{ratio(cost, ice_cost):.2f} (edge {ratio(edge_cost, ice_cost):.2f})",
                         f"{d.requests_per_listener_s:.3f}",
                         f"{d.requests_per_listener_s * 3600:.0f}",
                         f"{d.origin_requests_per_segment:.2f} per segment "
                         f"({d.all_origin_requests_per_segment:.1f} all)",
                         f"{d.chunk_delay_p50:.3f}/{d.chunk_delay_p95:.3f} chunk",
                         f"{d.chunks_per_listener_s * d.chunk_seconds:.2f} s/s",
                         "-", f"{d.generator_cpu_pct:.0f}", f"{d.rest_cpu_pct:.0f}",
                         dash_limit(d)])
            summary.append({"listeners": n, "path": "ll-dash", "row": d.variant,
                            **d.figures(), "edge_cpu_pct": d.varnish_cpu_pct,
                            "origin_cpu_pct": d.origin_cpu_pct, "ratio": ratio(cost, ice_cost),
                            "origin_requests_per_s": d.origin_requests / d.window,
                            "delay_p50": d.chunk_delay_p50, "delay_p95": d.chunk_delay_p95,
                            "generator_cpu_pct": d.generator_cpu_pct,
                            "rest_cpu_pct": d.rest_cpu_pct})
    print_table(["listeners", "server", "server CPU % (edge + origin)",
                 "CPU-s per 1000 listener-min", "x Icecast (edge alone)", "req/listener-s",
                 "req/listener-h", "origin requests", "delay p50/p95 s", "audio per listener",
                 "latency s", "load gen %", "rest %", "limit"], rows)
    print("(CPU: % of one core. req/listener-s: client requests in the window per "
          "listener-second (Icecast: connections opened). Delay: LL-DASH, a chunk complete "
          "at the listener after its last sample's wall time; LL-HLS, part age when held; "
          "Icecast, marker arrival after the source sent it, past the burst. Audio per "
          "listener: seconds of audio per second each (1.00 = kept up). Latency: Icecast = "
          "source send -> played by a player that starts on the first byte; LL-HLS = part "
          "age + PART-HOLD-BACK.)")
    for failure in failed:
        print(f"failed step: {failure}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "benchmark": "icecast_side_by_side",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": _commit(),
            "arguments": sys.argv[1:],
            "cores": os.cpu_count(),
            "summary": summary,
            "icecast": [asdict(s) | {"cpu_s_per_1000_listener_min": s.cpu_s_per_1000_listener_min}
                        for s in icecast_rows.values()],
            "townhall": [asdict(s) | {"variant": k[0],
                                      "cpu_s_per_1000_listener_min": cpu_s_per_1000_listener_min(s)}
                         for k, s in townhall_rows.items()],
            "dash": [asdict(s) | s.figures() for s in dash_rows.values()],
            "failed": failed}, indent=1))
        log(f"results in {args.json}")


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


if __name__ == "__main__":
    main()
