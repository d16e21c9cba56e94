"""Server CPU per listener: Townhall (nginx edge + origin, LL-HLS) next to Debian's
icecast2 (one 64 kb/s MP3 mount), at the same audience sizes, in the same run (issue #4).

    .venv/bin/python -m benchmarks.icecast_side_by_side                 # 250, 1000, 2000
    .venv/bin/python -m benchmarks.icecast_side_by_side --quick         # 50 and 200, 8 s
    .venv/bin/python -m benchmarks.icecast_side_by_side --levers        # + the levers

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
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks._common import REPO_ROOT, Deadline, free_port, log, print_table, stop_process
from benchmarks._icecast import (
    BITRATE,
    DEFAULT_BURST,
    Icecast,
    Source,
    make_program,
    measure_listener,
)
from benchmarks.edge_scale import Step, raise_fd_limit, run_step, running_origin, workers_for
from townhall.testing import cpu

DEFAULT_SIZES = [250, 1000, 2000]
# What a run may ask for: listeners per size, and seconds per step.
MAX_LISTENERS = 9000
MIN_DURATION, MAX_DURATION = 5.0, 300.0
# Seconds Icecast listeners get to connect (see icecast_step).
JOIN_ALLOWANCE = 60.0


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
    logged_seconds: int = 0  # sum over logged listeners

    @property
    def cpu_s_per_1000_listener_min(self) -> float:
        return self.cpu_pct / 100 * self.window / (self.listeners * self.window / 60) * 1000

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

    def __init__(self, port: int, listeners: int, seconds: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._icecast", str(port), str(listeners),
             f"{seconds:g}"], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
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
        stalled=bool(getattr(measured, "stalled", False)),
        logged_listeners=len(logged),
        logged_median_bytes=int(statistics.median([b for b, _ in logged])) if logged else 0,
        logged_starved=starved, connected=in_window,
        logged_seconds=sum(t for _, t in logged))
    log(f"icecast step {listeners}: icecast2 {step.cpu_pct:.1f}% of a core, "
        f"{step.cpu_s_per_1000_listener_min:.2f} CPU-s per 1000 listener-min; listeners got "
        f"{step.bytes_per_listener_s:.0f} B/s each; marker played {step.play_latency_p50:.2f} s "
        f"behind the source (burst {burst:.2f} s); generator {step.wrk_cpu_pct:.0f}%, rest "
        f"{step.rest_cpu_pct:.0f}%; {in_window} connected; generator {result}; icecast logged "
        f"{len(logged)} listeners, median {step.logged_median_bytes} B, {starved} with < 1 s "
        "of audio")
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
    parser.add_argument("--quick", action="store_true", help="50 and 200 listeners, 8 s each")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.quick:
        sizes, args.duration, args.warmup = [50, 200], 8.0, 3.0
    else:
        sizes = [int(s) for s in args.sizes.split(",")]
    if not all(1 <= s <= MAX_LISTENERS for s in sizes) or \
            not MIN_DURATION <= args.duration <= MAX_DURATION:
        parser.error(f"sizes must be 1..{MAX_LISTENERS} listeners, "
                     f"duration {MIN_DURATION:g}..{MAX_DURATION:g} s")
    variants = [DEFAULT, *(LEVERS if args.levers else [])]
    fd_limit = raise_fd_limit()
    steps_per_size = 1 + len(variants)
    total = len(sizes) * (steps_per_size * (args.duration + 15) + JOIN_ALLOWANCE) \
        + 60 * len(variants) + 60
    deadline = Deadline(total + 120)
    log(f"load average {cpu.load_average()}; {len(sizes)} sizes x {steps_per_size} steps of "
        f"{args.duration:g} s; open-file limit {fd_limit}")
    icecast_rows: dict[int, IcecastStep] = {}
    townhall_rows: dict[tuple[str, int], Step] = {}
    with tempfile.TemporaryDirectory(prefix="townhall-icecast-") as tmp_name:
        tmp = Path(tmp_name)
        program = make_program(tmp)
        with Icecast(tmp / "icecast", free_port(), max(sizes) + 50, args.icecast_burst) as ice:
            source = Source(program, ice.port, total + 60)
            source.start()
            source_started = time.monotonic()
            log(f"icecast2 pid {ice.process.pid if ice.process else '?'} on {ice.url}, "  # noqa
                f"burst-size {args.icecast_burst}; source sending {len(program.frames)} MP3 "
                "frames per loop in real time")
            # Variants that share an origin (same part size) run against one origin
            # process; at each size Icecast goes first, then each Townhall variant.
            groups: dict[tuple[int | None, int | None], list[Variant]] = {}
            for variant in variants:
                groups.setdefault((variant.part_frames, variant.parts_per_segment),
                                  []).append(variant)
            for (frames, per_segment), group in groups.items():
                with running_origin(frames, per_segment) as origin:
                    log(f"origin pid {origin.process.pid} for: "
                        f"{', '.join(v.name for v in group)}")
                    for n in sizes:
                        if DEFAULT in group:
                            # A full burst buffer first (64 KB = 8.2 s of audio).
                            time.sleep(max(0.0, source_started + 10.0 - time.monotonic()))
                            if source.error:
                                raise RuntimeError(f"the Icecast source failed: {source.error!r}")
                            icecast_rows[n] = icecast_step(ice, source, n, args.duration,
                                                           args.warmup, deadline)
                        for variant in group:
                            townhall_rows[(variant.name, n)] = run_step(
                                origin.base_url, origin.process.pid, n,
                                workers_for(n, fd_limit), args.duration, args.warmup,
                                tmp / f"edge-{len(townhall_rows)}", deadline,
                                access_log=variant.access_log,
                                lock_timeout=variant.lock_timeout, mode=variant.mode,
                                http_extra=variant.http_extra)
            source.stop_event.set()
            source.join(timeout=5)
    print()
    print(f"Townhall next to Icecast: {args.duration:g} s per step, measured over "
          f"{args.duration - args.warmup - 1:g} s; load average at the end {cpu.load_average()}; "
          f"the source used {source.cpu_seconds:.2f} CPU-s in all")
    rows = []
    for n in sizes:
        ice = icecast_rows.get(n)
        if ice is None:
            continue
        rows.append([n, "Icecast 2.4.4 (MP3 64 kb/s)", f"{ice.cpu_pct:.1f}",
                     f"{ice.cpu_s_per_1000_listener_min:.2f}", "1.00",
                     f"{ice.bytes_per_listener_s / 1000:.1f} kB/s"
                     f" ({ice.real_time_ratio(args.icecast_burst):.2f} s/s)",
                     f"{ice.play_latency_p50:.2f} (burst {ice.burst_seconds:.2f})",
                     f"{ice.wrk_cpu_pct:.0f}", f"{ice.rest_cpu_pct:.0f}"])
        for variant in variants:
            step = townhall_rows.get((variant.name, n))
            if step is None:
                continue
            cost = cpu_s_per_1000_listener_min(step)
            edge_cost = edge_cpu_s_per_1000_listener_min(step)
            rows.append([n, variant.name,
                         f"{step.nginx_cpu_pct:.1f} + {step.origin_cpu_pct:.1f}",
                         f"{cost:.2f} (edge {edge_cost:.2f})",
                         f"{cost / ice.cpu_s_per_1000_listener_min:.2f} "
                         f"(edge {edge_cost / ice.cpu_s_per_1000_listener_min:.2f})",
                         f"{step.parts_per_player_s * variant.part_seconds:.2f} s/s",
                         f"{step.age_p50 + variant.hold_back:.2f} (age p50/p95 "
                         f"{step.age_p50:.2f}/{step.age_p95:.2f} + {variant.hold_back:.3f})",
                         f"{step.wrk_cpu_pct:.0f}", f"{step.rest_cpu_pct:.0f}"])
    print_table(["listeners", "server", "server CPU % (nginx + origin)",
                 "CPU-s per 1000 listener-min", "x Icecast (edge alone)", "audio per listener",
                 "latency s", "load gen %", "rest %"], rows)
    print("(CPU: % of one core. Audio per listener: Icecast bytes/s each and, without the "
          "connect burst, seconds of audio per second; Townhall seconds of audio per second "
          "each (1.00 = kept up). Latency: Icecast = source send -> played by a player that starts on the "
          "first byte; Townhall = part age when held + PART-HOLD-BACK.)")
    if args.json:
        args.json.write_text(json.dumps({
            "icecast": [asdict(s) | {"cpu_s_per_1000_listener_min": s.cpu_s_per_1000_listener_min}
                        for s in icecast_rows.values()],
            "townhall": [asdict(s) | {"variant": k[0],
                                      "cpu_s_per_1000_listener_min": cpu_s_per_1000_listener_min(s)}
                         for k, s in townhall_rows.items()]}, indent=1))


if __name__ == "__main__":
    main()
