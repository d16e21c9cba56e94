"""Origin requests per part as the audience grows, through the nginx edge (issue #4).

    .venv/bin/python -m benchmarks.edge_scale            # 100, 1,000, 5,000, 10,000 players
    .venv/bin/python -m benchmarks.edge_scale --quick    # smoke run: 20 and 200, 6 s each
    .venv/bin/python -m benchmarks.edge_scale --steps 500,2000 --duration 30

One `townhall demo` origin (its live demo Space), one `NginxEdge` in front of it (a
fresh one per step), and wrk with benchmarks/ll_hls_listener.lua as the listeners: each
connection is one low-latency player (blocking playlist reload for the next part, then
the part). Per step, over a steady window (after a warm-up, before wrk stops):
listeners, parts the origin produced, requests the edge served, requests it sent to the
origin (its access log), origin requests per part, how well players kept up (parts per
second each, age of the parts they got) and the CPU of nginx, the origin and wrk
(townhall.testing.cpu). The target: origin requests per part stay flat as listeners grow.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import resource
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from benchmarks._common import (
    Deadline,
    Server,
    log,
    print_table,
    running_server,
    start_patched_server,
    stop_server,
)
from benchmarks._parts import FRAMES_ENV, PARTS_ENV
from benchmarks._wrk import ListenerRun, probe_stream
from townhall.edge import config as edge_module
from townhall.testing import cpu
from townhall.testing.edge import NginxEdge

DEFAULT_STEPS = [100, 1000, 5000, 10000]
# What a step may ask for: players, and seconds per step.
MAX_PLAYERS = 20000
MIN_DURATION, MAX_DURATION = 3.0, 300.0
# One nginx worker holds (file limit - 1024) / 2 connections (NginxEdge's config); past
# that a step gets a second worker.
FD_RESERVE = 1024


@dataclass
class Step:
    listeners: int
    workers: int
    window: float  # seconds measured
    parts_produced: int
    edge_requests: int
    origin_requests: int
    origin_playlist_requests: int
    origin_media_requests: int
    parts_per_player_s: float  # whole run
    age_p50: float
    age_p95: float
    age_p99: float
    late_pct: float
    reload_timeouts: int
    errors: int
    nginx_cpu_pct: float  # % of one core over the window
    origin_cpu_pct: float
    wrk_cpu_pct: float
    softirq_pct: float  # kernel interrupt work (loopback TCP), part of rest_cpu_pct
    rest_cpu_pct: float  # everything else on the machine, other people's work included
    edge_statuses: dict[str, int]
    edge_errors: dict[str, int]

    @property
    def origin_requests_per_part(self) -> float:
        return self.origin_requests / self.parts_produced if self.parts_produced else float("nan")

    @property
    def edge_rps(self) -> float:
        return self.edge_requests / self.window

    @property
    def nginx_us_per_request(self) -> float:
        return self.nginx_cpu_pct / 100 * self.window / self.edge_requests * 1e6 \
            if self.edge_requests else float("nan")

    @property
    def server_ms_per_listener_minute(self) -> float:
        """CPU-ms of nginx + origin per listener-minute."""
        server_cpu = (self.nginx_cpu_pct + self.origin_cpu_pct) / 100 * self.window
        return server_cpu * 1000 / (self.listeners * self.window / 60)


@contextlib.contextmanager
def running_origin(part_frames: int | None = None, parts_per_segment: int | None = None,
                   extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    """`townhall demo` as the origin; with part_frames, parts of that many AAC frames
    (benchmarks/_parts.py patches the limits, also from extra_env's variables;
    Townhall's defaults are unchanged)."""
    if part_frames is None and parts_per_segment is None and not extra_env:
        with running_server("demo") as server:
            yield server
        return
    with tempfile.TemporaryDirectory(prefix="townhall-bench-parts-") as tmp:
        server = start_patched_server(
            Path(tmp), "benchmarks._parts", "demo",
            {FRAMES_ENV: str(part_frames or ""), PARTS_ENV: str(parts_per_segment or ""),
             **(extra_env or {})})
        try:
            log(f"origin pid {server.process.pid} on {server.base_url}: parts of {part_frames} AAC "
                f"frames, {parts_per_segment} per segment, {extra_env or {}}")
            yield server
        finally:
            stop_server(server)


class TunedEdge(NginxEdge):
    """NginxEdge with extra directives in its http block (benchmark experiments only)."""

    def __init__(self, *args: object, http_extra: str = "", **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.http_extra = http_extra

    def render(self) -> str:
        text = super().render()
        if not self.http_extra:
            return text
        if "\nhttp {\n" not in text:
            raise RuntimeError("the edge config has no http block to extend")
        return text.replace("\nhttp {\n", f"\nhttp {{\n    {self.http_extra}\n", 1)


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def workers_for(listeners: int, fd_limit: int) -> int:
    per_worker = (fd_limit - FD_RESERVE) // 2
    return 1 if listeners + 200 <= per_worker else 2


def origin_position(client: httpx.Client, url: str, parts_per_segment: int) -> int:
    from benchmarks._wrk import newest_part

    # A starved origin may take a while to answer: three tries of 10 s.
    for attempt in range(3):
        try:
            response = client.get(url, timeout=10)
            response.raise_for_status()
            return newest_part(response.text, parts_per_segment)[0]
        except httpx.HTTPError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def run_step(origin_url: str, origin_pid: int, listeners: int, workers: int,
             duration: float, warmup: float, workdir: Path, deadline: Deadline,
             access_log: bool = True, lock_timeout: str | None = None,
             mode: str = "parts", http_extra: str = "") -> Step:
    """One step: a fresh edge, `listeners` wrk players for `duration` s, measured over a
    steady window. Without the access log, origin requests are not counted (0).
    `lock_timeout` overrides the edge's proxy_cache_lock_timeout (experiments with
    longer parts: waiters must outwait one part, or they all go to the origin).
    `mode="segments"`: players of whole segments instead of low-latency players.
    `http_extra`: nginx directives added to the edge's http block (experiments)."""
    if lock_timeout is not None:
        saved = edge_module.LOCK_TIMEOUT
        edge_module.LOCK_TIMEOUT = lock_timeout
        try:
            return run_step(origin_url, origin_pid, listeners, workers, duration, warmup,
                            workdir, deadline, access_log, None, mode, http_extra)
        finally:
            edge_module.LOCK_TIMEOUT = saved
    origin_host = origin_url.removeprefix("http://")
    origin_playlist = f"{origin_url}/hls/demo/live.m3u8"
    with TunedEdge([origin_host], workdir, worker_processes=workers,
                   unlimited_clients=["127.0.0.1"], access_log=access_log,
                   http_extra=http_extra) as edge, httpx.Client() as client:
        stream = probe_stream(f"{edge.url}/hls/demo/live.m3u8")
        log(f"step {listeners} players: edge {edge.url} ({workers} worker(s), pids "
            f"{edge.pids()}), wrk for {duration:g} s, measuring after {warmup:g} s")
        run = ListenerRun(stream, listeners, duration, progress=log, progress_every=5, mode=mode)
        time.sleep(warmup)
        # The steady window: from the warm-up to just before wrk stops.
        t0 = time.time()
        pos0 = origin_position(client, origin_playlist, stream.parts_per_segment)
        nginx0, origin0, wrk0 = edge.cpu_seconds(), cpu.process_seconds(origin_pid), \
            cpu.process_seconds(run.pid)
        busy0, mono0 = cpu.machine_busy_seconds(), time.monotonic()
        irq0 = cpu.softirq_seconds()
        end = run.started + duration - 1.0
        while time.monotonic() < end:
            deadline.check("waiting for the step to finish")
            time.sleep(min(0.5, max(0.0, end - time.monotonic())))
        pos1 = origin_position(client, origin_playlist, stream.parts_per_segment)
        nginx1, origin1, wrk1 = edge.cpu_seconds(), cpu.process_seconds(origin_pid), \
            cpu.process_seconds(run.pid)
        busy1, mono1 = cpu.machine_busy_seconds(), time.monotonic()
        irq1 = cpu.softirq_seconds()
        t1 = time.time()
        result = run.wait()
        window = mono1 - mono0
        edge_requests = origin_requests = origin_playlists = origin_media = 0
        statuses: Counter[str] = Counter()
        for entry in edge.log_entries():
            if not t0 <= entry.time <= t1 or not entry.uri.startswith("/hls/"):
                continue
            edge_requests += 1
            statuses[str(entry.status)] += 1
            origin_requests += entry.origin_requests
            if ".m3u8" in entry.uri:
                origin_playlists += entry.origin_requests
            else:
                origin_media += entry.origin_requests
        edge_errors = error_kinds(edge.error_log_path)
    pct = lambda a, b: 100 * (b - a) / window  # noqa: E731
    nginx, origin, wrk = pct(nginx0, nginx1), pct(origin0, origin1), pct(wrk0, wrk1)
    step = Step(
        listeners=listeners, workers=workers, window=window,
        parts_produced=pos1 - pos0, edge_requests=edge_requests,
        origin_requests=origin_requests, origin_playlist_requests=origin_playlists,
        origin_media_requests=origin_media,
        parts_per_player_s=result.parts_per_connection_per_second,
        age_p50=result.age_percentile(50), age_p95=result.age_percentile(95),
        age_p99=result.age_percentile(99), late_pct=100 * result.late_fraction,
        reload_timeouts=result.reload_timeouts, errors=result.errors,
        nginx_cpu_pct=nginx, origin_cpu_pct=origin, wrk_cpu_pct=wrk,
        softirq_pct=pct(irq0, irq1), rest_cpu_pct=pct(busy0, busy1) - nginx - origin - wrk,
        edge_statuses=dict(statuses), edge_errors=edge_errors,
    )
    log(f"step {listeners}: {step.parts_produced} parts, {edge_requests} edge requests "
        f"({step.edge_rps:.0f}/s), {origin_requests} origin requests "
        f"({step.origin_requests_per_part:.2f} per part); players {step.parts_per_player_s:.2f} "
        f"parts/s, age p50 {step.age_p50:.3f} s; CPU nginx {nginx:.0f}% origin {origin:.0f}% "
        f"wrk {wrk:.0f}% rest {step.rest_cpu_pct:.0f}%; edge statuses {dict(statuses)}; "
        f"socket errors {result.socket_errors}; nginx error log {edge_errors}")
    if result.stderr.strip():
        log(f"wrk stderr: {result.stderr.strip()[:500]}")
    return step


def error_kinds(path: Path) -> dict[str, int]:
    """nginx error-log lines counted by message (time, pids and request details cut)."""
    kinds: Counter[str] = Counter()
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return {}
    for line in text.splitlines():
        message = line.split("] ", 1)[-1].split(": ", 1)[-1]
        kinds[re.split(r"[,(]", message, maxsplit=1)[0].strip()[:80]] += 1
    return dict(kinds.most_common(4))


def limit_of(step: Step, expected_rate: float) -> str:
    """What held a step back, from who used the CPU."""
    kept_up = step.parts_per_player_s >= 0.9 * expected_rate and step.late_pct < 5
    busy = {"nginx": step.nginx_cpu_pct / step.workers, "origin": step.origin_cpu_pct,
            "wrk": step.wrk_cpu_pct / 2}
    total = step.nginx_cpu_pct + step.origin_cpu_pct + step.wrk_cpu_pct + step.rest_cpu_pct
    if kept_up and total < 170:
        return "none (kept up)"
    hot = max(busy, key=busy.get)  # type: ignore[arg-type]
    what = f"{hot} ({busy[hot]:.0f}% per core)"
    if total >= 170:
        what = f"the 2 cores ({total:.0f}% busy; most: {what})"
    return ("kept up, near " if kept_up else "fell behind: ") + what


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default=",".join(map(str, DEFAULT_STEPS)),
                        help="listener counts, comma-separated")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per step")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds before measuring")
    parser.add_argument("--workers", type=int, default=0,
                        help="nginx workers (default: 1, or 2 past one worker's connections)")
    parser.add_argument("--part-frames", type=int, help="experiment: AAC frames per part "
                        "(Townhall: 12 = 0.256 s); with --parts-per-segment")
    parser.add_argument("--parts-per-segment", type=int, help="experiment (Townhall: 8)")
    parser.add_argument("--lock-timeout", help="experiment: the edge's proxy_cache_lock_timeout "
                        "(default: the edge's; longer parts need longer, e.g. 700ms for 0.512 s)")
    parser.add_argument("--segments", action="store_true",
                        help="players of whole segments (not low-latency) instead of parts")
    parser.add_argument("--http-extra", default="",
                        help="experiment: nginx directives added to the edge's http block")
    parser.add_argument("--no-access-log", action="store_true",
                        help="edge without its access log (origin requests are not counted)")
    parser.add_argument("--quick", action="store_true", help="20 and 200 players, 6 s each")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.quick:
        steps, args.duration, args.warmup = [20, 200], 6.0, 2.0
    else:
        steps = [int(s) for s in args.steps.split(",")]
    if not all(1 <= s <= MAX_PLAYERS for s in steps) or \
            not MIN_DURATION <= args.duration <= MAX_DURATION:
        parser.error(f"steps must be 1..{MAX_PLAYERS} players, "
                     f"duration {MIN_DURATION:g}..{MAX_DURATION:g} s")
    fd_limit = raise_fd_limit()
    deadline = Deadline(len(steps) * (args.duration + 90) + 120)
    log(f"load average {cpu.load_average()}; open-file limit {fd_limit} per process")
    steps_done: list[Step] = []
    failed: list[str] = []
    with running_origin(args.part_frames, args.parts_per_segment) as origin, \
            tempfile.TemporaryDirectory(
            prefix="townhall-edge-scale-") as tmp:
        # Let the demo Space make a complete segment first.
        probe_stream(f"{origin.base_url}/hls/demo/live.m3u8")
        for n in steps:
            workers = args.workers or workers_for(n, fd_limit)
            try:
                steps_done.append(run_step(origin.base_url, origin.process.pid, n, workers,
                                           args.duration, args.warmup, Path(tmp) / f"edge-{n}",
                                           deadline, access_log=not args.no_access_log,
                                           lock_timeout=args.lock_timeout,
                                           mode="segments" if args.segments else "parts",
                                           http_extra=args.http_extra))
            except Exception as error:  # noqa: BLE001 - report it, try the next step
                log(f"step {n} failed: {error!r}")
                failed.append(f"{n} players: {error!r}")
                if deadline.left() < args.duration + 60:
                    break
    expected = 1 / (0.256 * (args.part_frames or 12) / 12)
    if args.segments:
        expected = 1 / 2.048
    print()
    print(f"Edge scale: one origin, one nginx edge, wrk LL-HLS players; {args.duration:g} s "
          f"per step, measured over the last {args.duration - args.warmup - 1:g} s; "
          f"load average at the end {cpu.load_average()}")
    print_table(
        ["players", "nginx workers", "parts made", "edge req/s", "origin req", "origin req/part",
         "parts/s per player", "part age p50/p95/p99 s", "late %", "timeouts+errors",
         "nginx %", "origin %", "wrk %", "softirq %", "rest %", "nginx µs/req", "server CPU-ms/listener-min",
         "limit"],
        [[s.listeners, s.workers, s.parts_produced, round(s.edge_rps), s.origin_requests,
          f"{s.origin_requests_per_part:.2f}", f"{s.parts_per_player_s:.2f}",
          f"{s.age_p50:.2f}/{s.age_p95:.2f}/{s.age_p99:.2f}", f"{s.late_pct:.1f}",
          s.reload_timeouts + s.errors, s.nginx_cpu_pct, s.origin_cpu_pct, s.wrk_cpu_pct,
          s.softirq_pct, s.rest_cpu_pct - s.softirq_pct, s.nginx_us_per_request, f"{s.server_ms_per_listener_minute:.2f}",
          limit_of(s, expected)] for s in steps_done])
    for failure in failed:
        print(f"failed step: {failure}")
    print("(CPU: % of one core; the machine has 2; rest = other processes, e.g. other "
          "people's tests. Part age: when a player held a part, "
          "after its last sample's PROGRAM-DATE-TIME.)")
    if args.json:
        args.json.write_text(json.dumps([asdict(s) | {
            "origin_requests_per_part": s.origin_requests_per_part,
            "server_ms_per_listener_minute": s.server_ms_per_listener_minute,
            "nginx_us_per_request": s.nginx_us_per_request} for s in steps_done], indent=1))


if __name__ == "__main__":
    main()
