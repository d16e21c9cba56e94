"""One long stream per listener, fanned out by nginx + Nchan, next to Icecast (issue #16).

The question this answers before anyone builds it: what does an edge cost per listener
when each listener holds one HTTP stream for the whole Space and the edge writes each
1.024 s chunk to every listener from its event loop (Nchan, Debian's
libnginx-mod-nchan), against Icecast2 in the same run? Varnish, streaming a segment per
8.192 s, wakes one thread per listener per chunk and costs 1.6-2.6x Icecast
(BENCHMARKS.md §13); Squid, one event loop but a request per segment, measured no
cheaper.

A publisher POSTs a chunk of 64 kb/s audio's size (8,192 bytes, the first bytes its
send time) every 1.024 s to the edge's channel; N listeners (benchmarks/_icecast.py's
ramped generator, own process) each hold `GET /sub/demo` (Nchan's `chunked`
subscriber: a chunked HTTP/1.1 response, one HTTP chunk per message) and read; one
measuring listener times each chunk's arrival against its send time. Icecast gets the
same listeners in the same run (the §8/§13 method).

    .venv/bin/python -m benchmarks.nchan_fanout [--sizes 2000,5000] [--json FILE]
    .venv/bin/python -m benchmarks.nchan_fanout --townhall [--sizes 2000,5000] [--json FILE]

`--townhall`: the shipped path instead of the stand-in: a `townhall demo` origin
publishes its Space's chunks (TOWNHALL_STREAM_EDGES) to the shipped nginx edge
(townhall/edge/nginx.conf.j2, with Nchan), and the listeners hold
`GET /hls/demo/live.stream` on the edge, as player.js does. Counted: nginx (master +
worker) and the origin process; "edge alone" leaves the origin out (the Space's
production, paid once per Space). Its chunk delay is not measured here (the stream is
real audio, not stamped): tests/system/test_browser_stream.py measures glass to glass in
Chromium.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from benchmarks._common import Deadline, log, percentile, print_table
from benchmarks._icecast import DEFAULT_BURST, Icecast, Source, make_program
from benchmarks.edge_scale import raise_fd_limit
from benchmarks.icecast_side_by_side import (
    JOIN_ALLOWANCE,
    RampedListeners,
    icecast_step,
)
from townhall.testing import cpu
from townhall.testing.edge import NginxEdge
from townhall.testing.servers import start_server, stop_server
from townhall.testing.foreground import ForegroundServer
from townhall.testing.servers import free_port
from townhall.testing.waiting import wait_started

NGINX = "/usr/sbin/nginx"
NCHAN_MODULE = "/usr/lib/nginx/modules/ngx_nchan_module.so"
CHUNK_SECONDS = 1.024  # the LL-DASH path's chunk (limits.DASH_PARTS_PER_CHUNK parts)
CHUNK_BYTES = 8192  # 64 kb/s for 1.024 s
STAMP = 24  # bytes at the start of each chunk: its send time, ASCII
MAX_LISTENERS = 10_000
WINDOW = 20.0  # seconds measured per step
WARMUP = 4.0


def nchan_config(workdir: Path, port: int, max_clients: int) -> str:
    return f"""\
load_module {NCHAN_MODULE};
daemon off;
worker_processes 1;
error_log {workdir}/error.log warn;
pid {workdir}/nginx.pid;
worker_rlimit_nofile {max_clients * 2 + 100};
events {{ worker_connections {max_clients + 100}; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /pub/demo {{
            nchan_publisher;
            nchan_channel_id demo;
            nchan_message_buffer_length 4;
            nchan_message_timeout 30s;
            client_body_buffer_size 16k;
        }}
        location = /sub/demo {{
            nchan_subscriber chunked;
            nchan_channel_id demo;
            nchan_subscriber_first_message newest;
        }}
        location = /status {{ nchan_stub_status; }}
    }}
}}
"""


class NchanEdge(ForegroundServer):
    def __init__(self, workdir: Path, max_clients: int) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.max_clients = max_clients
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> NchanEdge:
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "nginx.conf"
        conf.write_text(nchan_config(self.workdir, self.port, self.max_clients))
        self.process = subprocess.Popen([NGINX, "-p", str(self.workdir), "-c", str(conf)],
                                        stdin=subprocess.DEVNULL)
        wait_started(self.process,
                     lambda: httpx.get(self.url + "/status", timeout=1).status_code == 200,
                     f"nginx+nchan on {self.url}", 15.0, log=self._diagnostics,
                     interval=0.1, ignore=(httpx.TransportError,), stop=self.stop)
        return self

    def _diagnostics(self) -> str:
        path = self.workdir / "error.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def subscribers(self) -> int:
        for line in httpx.get(self.url + "/status", timeout=5).text.splitlines():
            if line.startswith("subscribers:"):
                return int(line.split(":")[1])
        return -1


class Publisher(threading.Thread):
    """POSTs a stamped chunk every CHUNK_SECONDS on the wall clock, as an origin would."""

    def __init__(self, url: str, max_seconds: float) -> None:
        super().__init__(daemon=True)
        self.url, self.max_seconds = url, max_seconds
        self.stop_event = threading.Event()
        self.sent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        filler = os.urandom(CHUNK_BYTES - STAMP)
        start = time.monotonic()
        try:
            with httpx.Client(timeout=5) as client:
                while not self.stop_event.is_set() and \
                        time.monotonic() - start < self.max_seconds:
                    stamp = f"{time.time():<{STAMP}.6f}".encode()
                    client.post(self.url, content=stamp + filler).raise_for_status()
                    self.sent += 1
                    self.stop_event.wait(start + self.sent * CHUNK_SECONDS - time.monotonic())
        except BaseException as error:  # noqa: BLE001 - reported by the step
            self.error = error


def measure_delays(url: str, seconds: float) -> list[float]:
    """One listener: each chunk's arrival (its first byte) minus its send time."""
    delays: list[float] = []
    offset = 0
    end = time.monotonic() + seconds
    with httpx.stream("GET", url, timeout=10, headers={"TE": "chunked"}) as response:
        for data in response.iter_raw():
            arrived = time.time()
            start = (-offset) % CHUNK_BYTES  # where the next chunk starts in `data`
            while start < len(data):
                stamp = data[start:start + STAMP]
                if len(stamp) == STAMP:
                    delays.append(arrived - float(stamp.decode()))
                start += CHUNK_BYTES
            offset += len(data)
            if time.monotonic() > end:
                break
    return delays[1:]  # the first is the newest message, already sent before the join


@dataclass
class NchanStep:
    listeners: int
    connected: int
    window: float
    nginx_cpu_pct: float
    generator_cpu_pct: float
    rest_cpu_pct: float
    bytes_per_listener_s: float
    delay_p50: float
    delay_p95: float

    @property
    def cpu_s_per_1000_listener_min(self) -> float:
        return self.nginx_cpu_pct / 100 * 60 / self.connected * 1000


def nchan_step(edge: NchanEdge, listeners: int, deadline: Deadline) -> NchanStep:
    assert edge.process is not None
    log(f"nchan step {listeners} listeners: connecting them (at most {JOIN_ALLOWANCE:g} s)")
    run = RampedListeners(edge.port, listeners, JOIN_ALLOWANCE + WARMUP + WINDOW + 20,
                          "/sub/demo")
    connected = 0
    joined_by = time.monotonic() + JOIN_ALLOWANCE
    try:
        while time.monotonic() < joined_by:
            deadline.check("waiting for Nchan listeners")
            connected = edge.subscribers()
            if connected >= listeners:
                break
            time.sleep(1.0)
        log(f"  {connected} of {listeners} subscribed (generator: {run.latest})")
        time.sleep(WARMUP)
        holder: dict[str, list[float]] = {}
        thread = threading.Thread(target=lambda: holder.update(
            d=measure_delays(edge.url + "/sub/demo", WINDOW - 1)), daemon=True)
        thread.start()
        bytes0 = run.latest.get("bytes", 0)
        n0, g0 = edge.cpu_seconds(), cpu.process_seconds(run.pid)
        busy0, mono0 = cpu.machine_busy_seconds(), time.monotonic()
        time.sleep(WINDOW)
        n1, g1 = edge.cpu_seconds(), cpu.process_seconds(run.pid)
        busy1, mono1 = cpu.machine_busy_seconds(), time.monotonic()
        bytes1, in_window = run.latest.get("bytes", 0), edge.subscribers() - 1
        thread.join(timeout=15)
    finally:
        run.stop()
    window = mono1 - mono0
    pct = lambda a, b: 100 * (b - a) / window  # noqa: E731
    delays = holder.get("d") or [float("nan")]
    step = NchanStep(
        listeners=listeners, connected=(connected + in_window) // 2, window=window,
        nginx_cpu_pct=pct(n0, n1), generator_cpu_pct=pct(g0, g1),
        rest_cpu_pct=pct(busy0, busy1) - pct(n0, n1) - pct(g0, g1),
        # The generator reports every 2 s: the bytes over its last reports' span.
        bytes_per_listener_s=(bytes1 - bytes0) / max(1, in_window) / window,
        delay_p50=statistics.median(delays), delay_p95=percentile(delays, 95))
    log(f"nchan step {listeners}: nginx {step.nginx_cpu_pct:.1f}% of a core, "
        f"{step.cpu_s_per_1000_listener_min:.2f} CPU-s per 1000 listener-min; "
        f"{step.bytes_per_listener_s:.0f} B/s each; chunk delay p50/p95 "
        f"{step.delay_p50:.3f}/{step.delay_p95:.3f} s; generator "
        f"{step.generator_cpu_pct:.0f}%, rest {step.rest_cpu_pct:.0f}%")
    return step


@dataclass
class TownhallStep:
    listeners: int
    connected: int
    window: float
    edge_cpu_pct: float
    origin_cpu_pct: float
    generator_cpu_pct: float
    rest_cpu_pct: float
    bytes_per_listener_s: float
    requests_per_listener_s: float

    def cost(self, with_origin: bool = True) -> float:
        pct = self.edge_cpu_pct + (self.origin_cpu_pct if with_origin else 0.0)
        return pct / 100 * 60 / max(1, self.connected) * 1000


def townhall_step(edge: NginxEdge, origin_pid: int, listeners: int,
                  deadline: Deadline) -> TownhallStep:
    """The shipped one-stream path: N listeners on /hls/demo/live.stream at the edge."""
    log(f"townhall stream step {listeners} listeners: connecting them (at most "
        f"{JOIN_ALLOWANCE:g} s)")
    run = RampedListeners(edge.port, listeners, JOIN_ALLOWANCE + WARMUP + WINDOW + 20,
                          "/hls/demo/live.stream")
    joined_by = time.monotonic() + JOIN_ALLOWANCE
    try:
        while time.monotonic() < joined_by and run.latest.get("connected", 0) < listeners:
            deadline.check("waiting for stream listeners")
            time.sleep(1.0)
        log(f"  {run.latest.get('connected', 0)} of {listeners} connected (generator: "
            f"{run.latest})")
        time.sleep(WARMUP)
        log_from = edge.log_offset()
        bytes0, c0 = run.latest.get("bytes", 0), run.latest.get("connected", 0)
        e0, o0 = edge.cpu_seconds(), cpu.process_seconds(origin_pid)
        g0, busy0, mono0 = cpu.process_seconds(run.pid), cpu.machine_busy_seconds(), time.monotonic()
        wall0 = time.time()
        time.sleep(WINDOW)
        wall1 = time.time()
        e1, o1 = edge.cpu_seconds(), cpu.process_seconds(origin_pid)
        g1, busy1, mono1 = cpu.process_seconds(run.pid), cpu.machine_busy_seconds(), time.monotonic()
        bytes1, c1 = run.latest.get("bytes", 0), run.latest.get("connected", 0)
    finally:
        run.stop()
    window = mono1 - mono0
    pct = lambda a, b: 100 * (b - a) / window  # noqa: E731
    connected = (c0 + c1) // 2
    # Requests the listeners began in the window (nginx logs a request when it ends: all
    # have ended now that the generator stopped).
    time.sleep(1.0)
    began = sum(1 for e in edge.log_entries(log_from) if e.uri.endswith("live.stream")
                and wall0 <= e.time - e.request_time <= wall1)
    step = TownhallStep(
        listeners=listeners, connected=connected, window=window,
        edge_cpu_pct=pct(e0, e1), origin_cpu_pct=pct(o0, o1), generator_cpu_pct=pct(g0, g1),
        rest_cpu_pct=pct(busy0, busy1) - pct(e0, e1) - pct(o0, o1) - pct(g0, g1),
        bytes_per_listener_s=(bytes1 - bytes0) / max(1, connected) / window,
        requests_per_listener_s=began / max(1, connected) / window)
    log(f"townhall stream step {listeners}: nginx {step.edge_cpu_pct:.1f}% + origin "
        f"{step.origin_cpu_pct:.1f}% of a core, {step.cost():.2f} CPU-s per 1000 "
        f"listener-min ({step.cost(False):.2f} edge alone); {step.bytes_per_listener_s:.0f} "
        f"B/s each; generator {step.generator_cpu_pct:.0f}%, rest {step.rest_cpu_pct:.0f}%")
    return step


def townhall_main(sizes: list[int], json_path: Path | None) -> None:
    total = len(sizes) * 2 * (JOIN_ALLOWANCE + WARMUP + WINDOW + 30) + 120
    deadline = Deadline(total)
    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="townhall-stream-") as tmp_name:
        tmp = Path(tmp_name)
        program = make_program(tmp)
        port = free_port()
        (tmp / "origin").mkdir()
        origin = start_server(tmp / "origin", extra_env={
            "TOWNHALL_STREAM_EDGES": f"http://127.0.0.1:{port}"})
        try:
            with Icecast(tmp / "icecast", free_port(), max(sizes) + 50, DEFAULT_BURST) as ice, \
                    NginxEdge([origin.base_url.removeprefix("http://")], tmp / "edge", port=port,
                              unlimited_clients=["127.0.0.1"]) as edge:
                source = Source(program, ice.port, total)
                source.start()
                time.sleep(10.0)  # a full Icecast burst buffer, as in §13
                for n in sizes:
                    ice_step = icecast_step(ice, source, n, WINDOW + WARMUP + 1, WARMUP, deadline)
                    step = townhall_step(edge, origin.process.pid, n, deadline)
                    ice_cost = ice_step.cpu_s_per_1000_listener_min
                    rows.append([n, f"Icecast 2.4.4 ({ice_step.listeners_in_window} connected)",
                                 f"{ice_step.cpu_pct:.1f}", f"{ice_cost:.2f}", "1", "-",
                                 f"{ice_step.bytes_per_listener_s:.0f}"])
                    rows.append([n, f"Townhall one stream via nginx + Nchan ({step.connected} "
                                    "connected)",
                                 f"{step.edge_cpu_pct:.1f} + {step.origin_cpu_pct:.1f}",
                                 f"{step.cost():.2f} ({step.cost(False):.2f})",
                                 f"{step.cost() / ice_cost:.2f} ({step.cost(False) / ice_cost:.2f})",
                                 f"{step.requests_per_listener_s:.3f}",
                                 f"{step.bytes_per_listener_s:.0f}"])
                    results.append({"listeners": n, "icecast_cost": ice_cost,
                                    "icecast_connected": ice_step.listeners_in_window,
                                    "stream": asdict(step), "stream_cost": step.cost(),
                                    "stream_edge_cost": step.cost(False)})
                source.stop_event.set()
        finally:
            stop_server(origin)
    print()
    print(f"Townhall's one-stream path (shipped edge, real origin) next to Icecast, same run; "
          f"{WINDOW:g} s windows")
    print_table(["listeners", "row", "server CPU % (edge + origin)",
                 "CPU-s per 1000 listener-min (edge alone)", "x Icecast (edge alone)",
                 "requests per listener-s", "B/s per listener"], rows)
    if json_path:
        json_path.write_text(json.dumps({"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                         "host": socket.gethostname(), "path": "townhall-stream",
                                         "rows": results}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2000,5000", help="audience sizes")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--townhall", action="store_true",
                        help="the shipped path: a townhall origin publishing to the shipped edge")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if not all(1 <= s <= MAX_LISTENERS for s in sizes):
        parser.error(f"sizes must be 1..{MAX_LISTENERS}")
    raise_fd_limit()
    if args.townhall:
        townhall_main(sizes, args.json)
        return
    total = len(sizes) * 2 * (JOIN_ALLOWANCE + WARMUP + WINDOW + 30) + 60
    deadline = Deadline(total)
    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="townhall-nchan-") as tmp_name:
        tmp = Path(tmp_name)
        program = make_program(tmp)
        with Icecast(tmp / "icecast", free_port(), max(sizes) + 50, DEFAULT_BURST) as ice, \
                NchanEdge(tmp / "nchan", max(sizes) + 50) as edge:
            source = Source(program, ice.port, total)
            source.start()
            publisher = Publisher(edge.url + "/pub/demo", total)
            publisher.start()
            time.sleep(10.0)  # a full Icecast burst buffer, as in §13
            for n in sizes:
                ice_step = icecast_step(ice, source, n, WINDOW + WARMUP + 1, WARMUP, deadline)
                step = nchan_step(edge, n, deadline)
                if publisher.error:
                    raise RuntimeError(f"the publisher failed: {publisher.error!r}")
                ice_cost = ice_step.cpu_s_per_1000_listener_min
                rows.append([n, "Icecast 2.4.4", f"{ice_step.cpu_pct:.1f}", f"{ice_cost:.2f}",
                             "1", f"{ice_step.bytes_per_listener_s:.0f}", "-"])
                rows.append([n, "nginx + Nchan, one stream per listener",
                             f"{step.nginx_cpu_pct:.1f}",
                             f"{step.cpu_s_per_1000_listener_min:.2f}",
                             f"{step.cpu_s_per_1000_listener_min / ice_cost:.2f}",
                             f"{step.bytes_per_listener_s:.0f}",
                             f"{step.delay_p50:.3f}/{step.delay_p95:.3f}"])
                results.append({"listeners": n, "icecast_cost": ice_cost,
                                "icecast_connected": ice_step.listeners_in_window,
                                "nchan": asdict(step),
                                "nchan_cost": step.cpu_s_per_1000_listener_min})
            publisher.stop_event.set()
            source.stop_event.set()
    print()
    print(f"One stream per listener through nginx + Nchan ({CHUNK_BYTES} B every "
          f"{CHUNK_SECONDS} s) next to Icecast, same run; {WINDOW:g} s windows")
    print_table(["listeners", "row", "CPU % of a core", "CPU-s per 1000 listener-min",
                 "x Icecast", "B/s per listener", "chunk delay p50/p95 s"], rows)
    if args.json:
        args.json.write_text(json.dumps({"when": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                time.gmtime()),
                                         "host": socket.gethostname(), "rows": results},
                                        indent=2))


if __name__ == "__main__":
    main()
