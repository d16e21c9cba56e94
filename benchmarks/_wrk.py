"""A cheap LL-HLS listener load generator: wrk with benchmarks/ll_hls_listener.lua.

Python (httpx/asyncio) spends ~0.3 ms of CPU per request, so a few hundred low-latency
players (~8 requests/s each) fill a core. wrk is an epoll loop in C with LuaJIT hooks:
every connection is one player (blocking playlist reload for the next part, then that
part; see the Lua file), so thousands of players fit on one core.

    stream = probe_stream("http://127.0.0.1:8080/hls/demo/live.m3u8")
    result = run_listeners(stream, connections=1000, duration=20, progress=print)

`probe_stream` reads the live stream once to learn how a part's tfdt maps to its
(msn, part) name, which the Lua script needs to know which part a response holds.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import httpx

from townhall.testing.waiting import wait_until
from townhall.tools.bench.playlist import MediaPlaylist, parse

LUA_SCRIPT = Path(__file__).resolve().parent / "ll_hls_listener.lua"
# A blocking reload answers within 3 target durations (6 s): 10 s means no answer.
WRK_TIMEOUT = "10s"
# Seconds beyond the requested duration before a wrk run is killed.
GRACE = 30.0

Progress = Callable[[str], None] | None


class WrkError(RuntimeError):
    pass


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise WrkError("wrk is not installed (scripts/setup.sh installs it: apt-get install wrk)")
    return path


# --- the stream ----------------------------------------------------------------------


@dataclass(frozen=True)
class Stream:
    playlist_url: str
    base_url: str  # the playlist's directory, ending in "/"
    playlist_name: str
    part_samples: int  # tfdt units per part
    index_offset: int  # part number = tfdt // part_samples + index_offset
    parts_per_segment: int
    part_duration: float
    hold_back: float

    def position(self, client: httpx.Client | None = None) -> int:
        """The newest part number the playlist lists now."""
        return newest_part(_get(self.playlist_url, client).text, self.parts_per_segment)[0]


def _get(url: str, client: httpx.Client | None = None) -> httpx.Response:
    response = (client or httpx).get(url, timeout=10)
    response.raise_for_status()
    return response


def newest_part(text: str, parts_per_segment: int) -> tuple[int, str]:
    playlist = parse(text)
    if not playlist.parts:
        raise WrkError("the playlist lists no parts (is the Space live?)")
    part = playlist.parts[-1]
    return part.msn * parts_per_segment + part.index, part.uri


def tfdt_of(part: bytes) -> int:
    """baseMediaDecodeTime of a `moof mdat` part."""
    at = part.find(b"tfdt", 0, 512)
    if at < 0:
        raise WrkError("no tfdt box in the part")
    version = part[at + 4]
    return struct.unpack_from(">Q" if version == 1 else ">I", part, at + 8)[0]


def probe_stream(playlist_url: str, timeout: float = 30.0) -> Stream:
    """Read the live playlist and its two newest parts: part size in tfdt units and
    the tfdt -> part number offset. Waits (up to `timeout`) for a complete segment."""
    with httpx.Client() as client:
        def complete() -> MediaPlaylist | None:
            playlist = parse(_get(playlist_url, client).text)
            return playlist if playlist.complete and len(playlist.parts) >= 2 else None

        playlist = wait_until(complete, f"{playlist_url} to list a complete segment", timeout,
                              interval=0.5)
        parts_per_segment = max(playlist.complete.values())
        a, b = playlist.parts[-2], playlist.parts[-1]
        ka = a.msn * parts_per_segment + a.index
        kb = b.msn * parts_per_segment + b.index
        ta = tfdt_of(_get(urljoin(playlist_url, a.uri), client).content)
        tb = tfdt_of(_get(urljoin(playlist_url, b.uri), client).content)
    if kb <= ka or tb <= ta:
        raise WrkError("the two newest parts are not in order")
    part_samples = round((tb - ta) / (kb - ka))
    base_url, _, name = playlist_url.rpartition("/")
    return Stream(
        playlist_url=playlist_url,
        base_url=base_url + "/",
        playlist_name=name.split("?")[0],
        part_samples=part_samples,
        index_offset=kb - tb // part_samples,
        parts_per_segment=parts_per_segment,
        part_duration=playlist.part_target or b.duration,
        hold_back=playlist.part_hold_back or 3 * b.duration,
    )


# --- a run ---------------------------------------------------------------------------------


@dataclass
class ListenerResult:
    connections: int
    threads: int
    duration: float  # wall seconds wrk ran
    requests: int = 0
    bytes_read: int = 0
    parts: int = 0
    playlists: int = 0
    reload_timeouts: int = 0
    errors: int = 0  # non-200 answers other than 503, plus socket errors
    socket_errors: dict[str, int] = field(default_factory=dict)
    late: int = 0
    unknown: int = 0
    min_index: int = -1
    max_index: int = -1
    age_hist: dict[int, int] = field(default_factory=dict)  # 10 ms buckets
    cpu_seconds: float = 0.0  # wrk's own user + system CPU
    stderr: str = ""

    @property
    def parts_per_connection_per_second(self) -> float:
        return self.parts / self.connections / self.duration if self.duration else 0.0

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.duration if self.duration else 0.0

    def age_percentile(self, q: float) -> float:
        """Part age (s) at the q-th percentile: how long after its last sample was
        captured (its PROGRAM-DATE-TIME + duration) a listener held each part."""
        total = sum(self.age_hist.values())
        if not total:
            return float("nan")
        rank = max(1, int(q / 100 * total + 0.999999))
        seen = 0
        for bucket in sorted(self.age_hist):
            seen += self.age_hist[bucket]
            if seen >= rank:
                return (bucket + 0.5) / 100
        return float("nan")

    @property
    def late_fraction(self) -> float:
        return self.late / self.parts if self.parts else float("nan")


_REQUESTS = re.compile(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h), ([\d.]+)([KMGT]?B) read")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_BYTES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def parse_output(out: str, result: ListenerResult) -> ListenerResult:
    match = _REQUESTS.search(out)
    if match is None:
        raise WrkError(f"wrk printed no summary:\n{out[-2000:]}\n{result.stderr[-2000:]}")
    result.requests = int(match[1])
    result.duration = float(match[2]) * _UNITS[match[3]]
    result.bytes_read = int(float(match[4]) * _BYTES[match[5]])
    socket = _SOCKET.search(out)
    if socket:
        result.socket_errors = dict(zip(("connect", "read", "write", "timeout"),
                                        map(int, socket.groups())))
    line = next((x for x in out.splitlines() if x.startswith("LLHLS_RESULT ")), None)
    if line is None:
        raise WrkError(f"the Lua script printed no result:\n{out[-2000:]}")
    data = json.loads(line[len("LLHLS_RESULT "):])
    for name in ("parts", "playlists", "reload_timeouts", "errors", "late", "unknown",
                 "min_index", "max_index"):
        setattr(result, name, int(data[name]))
    result.errors += sum(v for k, v in result.socket_errors.items() if k != "timeout")
    result.reload_timeouts += result.socket_errors.get("timeout", 0)
    result.age_hist = {int(k): int(v) for k, v in data["age_hist_10ms"].items()}
    return result


class ListenerRun:
    """wrk running N players in the background; `wait()` returns the result."""

    def __init__(self, stream: Stream, connections: int, duration: float,
                 threads: int | None = None, progress: Progress = None,
                 progress_every: float = 5.0, cpus: str | None = None,
                 mode: str = "parts") -> None:
        """`mode`: "parts" (low-latency players) or "segments" (players of whole
        segments: one blocking reload and one segment per segment duration)."""
        if connections < 1 or duration <= 0:
            raise ValueError("need at least one connection and a positive duration")
        if mode not in ("parts", "segments"):
            raise ValueError(f"unknown mode {mode!r}")
        hold_back = stream.hold_back
        if mode == "segments":
            # A player of segments stays 3 target durations behind (hls.js's default).
            hold_back = 3 * stream.part_duration * stream.parts_per_segment
        self.threads = threads or min(2, connections)
        self.connections = connections
        self.duration = duration
        self._progress = progress
        command = [
            wrk_path(), "-t", str(self.threads), "-c", str(connections),
            "-d", f"{duration:g}s", "--timeout", WRK_TIMEOUT,
            "-s", str(LUA_SCRIPT), stream.base_url, "--",
            f"part_samples={stream.part_samples}", f"index_offset={stream.index_offset}",
            f"parts_per_segment={stream.parts_per_segment}",
            f"part_duration={stream.part_duration}", f"hold_back={hold_back}", f"mode={mode}",
            f"playlist={stream.playlist_name}", f"progress={progress_every if progress else 0}",
        ]
        if cpus:
            command = ["taskset", "-c", cpus, *command]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=_raise_nofile,
        )
        self.pid = self.process.pid
        self._lines: list[str] = []
        self._latest: dict[str, dict[str, float]] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.started = time.monotonic()

    def _read(self) -> None:
        assert self.process.stdout is not None
        next_report = 0.0
        for line in self.process.stdout:
            self._lines.append(line)
            if not line.startswith("progress "):
                continue
            fields = dict(kv.split("=", 1) for kv in line.split()[1:])
            self._latest[fields["thread"]] = {k: float(v) for k, v in fields.items()}
            if self._progress and time.monotonic() >= next_report and \
                    len(self._latest) == self.threads:
                next_report = time.monotonic() + 1.0
                t = max(v["t"] for v in self._latest.values())
                total = {k: sum(v[k] for v in self._latest.values())
                         for k in ("parts", "playlists", "reload_timeouts", "errors", "late")}
                rate = sum(v["parts"] / v["t"] for v in self._latest.values()
                           if v["t"]) / self.connections
                self._progress(
                    f"  wrk {self.connections} players t={t:.0f}s: {total['parts']:.0f} parts "
                    f"({rate:.2f}/s per player), {total['reload_timeouts']:.0f} reload "
                    f"timeouts, {total['errors']:.0f} errors, {total['late']:.0f} late")

    def wait(self) -> ListenerResult:
        limit = self.started + self.duration + GRACE
        rusage = None
        while rusage is None:
            pid, status, usage = os.wait4(self.pid, os.WNOHANG)
            if pid == self.pid:
                rusage = usage
                self.process.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > limit:
                self.process.kill()
                _, status, rusage = os.wait4(self.pid, 0)
                self.process.returncode = os.waitstatus_to_exitcode(status)
                break
            time.sleep(0.1)
        self._reader.join(timeout=10)
        assert self.process.stderr is not None
        stderr = self.process.stderr.read()
        result = ListenerResult(self.connections, self.threads, self.duration, stderr=stderr)
        result.cpu_seconds = rusage.ru_utime + rusage.ru_stime
        return parse_output("".join(self._lines), result)


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_listeners(stream: Stream, connections: int, duration: float, **kwargs) -> ListenerResult:
    return ListenerRun(stream, connections, duration, **kwargs).wait()


def main() -> None:
    """`python -m benchmarks._wrk URL [connections] [seconds]`: one run, printed."""
    import sys

    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080/hls/demo/live.m3u8"
    connections = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    duration = float(sys.argv[3]) if len(sys.argv) > 3 else 10
    stream = probe_stream(url)
    print(stream, flush=True)
    before = stream.position()
    result = run_listeners(stream, connections, duration, progress=print, progress_every=2)
    produced = stream.position() - before
    print(f"{result.connections} players, {result.duration:.1f} s: {result.parts} parts "
          f"({result.parts_per_connection_per_second:.2f}/s per player; the stream made "
          f"{produced / result.duration:.2f}/s), {result.requests_per_second:.0f} req/s, "
          f"age p50/p95/max {result.age_percentile(50):.3f}/{result.age_percentile(95):.3f}/"
          f"{result.age_percentile(100):.3f} s, late {result.late}, reload timeouts "
          f"{result.reload_timeouts}, errors {result.errors}, wrk CPU {result.cpu_seconds:.2f} s")


if __name__ == "__main__":
    main()


# --- plain long GETs (Icecast listeners) ----------------------------------------------------


@dataclass
class StreamResult:
    connections: int
    duration: float
    bytes_read: int
    socket_errors: dict[str, int]
    cpu_seconds: float

    @property
    def bytes_per_connection_per_second(self) -> float:
        return self.bytes_read / self.connections / self.duration if self.duration else 0.0


class StreamRun:
    """wrk holding N plain GETs of an endless stream (an Icecast mount), each read as
    fast as it comes: wrk keeps no body without a script, so this costs ~nothing."""

    def __init__(self, url: str, connections: int, duration: float) -> None:
        self.connections, self.duration = connections, duration
        self.process = subprocess.Popen(
            [wrk_path(), "-t", str(min(2, connections)), "-c", str(connections),
             "-d", f"{duration:g}s", "--timeout", "60s", url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=_raise_nofile)
        self.pid = self.process.pid
        self.started = time.monotonic()

    def wait(self) -> StreamResult:
        limit = self.started + self.duration + GRACE
        while True:
            pid, status, rusage = os.wait4(self.pid, os.WNOHANG)
            if pid == self.pid:
                break
            if time.monotonic() > limit:
                self.process.kill()
                _, status, rusage = os.wait4(self.pid, 0)
                break
            time.sleep(0.1)
        self.process.returncode = os.waitstatus_to_exitcode(status)
        out = self.process.stdout.read() if self.process.stdout else ""
        err = self.process.stderr.read() if self.process.stderr else ""
        match = _REQUESTS.search(out)
        if match is None:
            raise WrkError(f"wrk printed no summary:\n{out[-2000:]}\n{err[-2000:]}")
        socket_errors = {}
        if (found := _SOCKET.search(out)):
            socket_errors = dict(zip(("connect", "read", "write", "timeout"),
                                     map(int, found.groups())))
        return StreamResult(
            connections=self.connections, duration=float(match[2]) * _UNITS[match[3]],
            bytes_read=int(float(match[4]) * _BYTES[match[5]]), socket_errors=socket_errors,
            cpu_seconds=rusage.ru_utime + rusage.ru_stime)
