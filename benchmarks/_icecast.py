"""Icecast pieces for benchmarks/icecast_side_by_side.py: Debian's icecast2 with a
generated config on loopback, a paced MP3 source with timed markers, and a measuring
listener that decodes what it receives and times the markers.

The program audio is a 15 s loop (silence with a 30 ms tone burst every 1.5 s, each
burst at one of 10 frequencies) encoded once by ffmpeg to MP3, 64 kb/s CBR, 48 kHz mono
(192-byte frames of 24 ms, no ID3/Xing header). The source client sends it frame by
frame on the wall clock (as a live encoder would) and notes when it sent each burst's
frame; a measuring listener notes when the frame holding a burst's onset arrived. The
difference is the server's source-to-listener delay (burst-on-connect, queues),
without any player buffer: the same thing the LL-HLS part age measures for Townhall.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from benchmarks._common import stop_process
from townhall.testing.audio import marker_burst, marker_onsets, write_wav
from townhall.testing.waiting import wait_started

RATE = 48_000
BITRATE = 64_000
FRAME_BYTES = 192  # MPEG-1 Layer III, 64 kb/s, 48 kHz: 144 * 64000 / 48000
FRAME_SECONDS = 1152 / RATE
LOOP_SECONDS = 15.0
MARKER_PERIOD = 1.5
MARKER_OFFSET = 0.5
# The markers (tones, level, length) are townhall.testing.audio's, which finds them again.
ICECAST = shutil.which("icecast2") or "/usr/bin/icecast2"
MOUNT = "/live.mp3"
SOURCE_PASSWORD = "bench-source"
# Debian's shipped value: a new listener first gets this much already-sent audio.
DEFAULT_BURST = 65535


# --- the program ---------------------------------------------------------------------------


@dataclass
class Program:
    frames: list[bytes]  # MP3 frames of one loop
    markers: list[tuple[int, int]]  # (frame index in the loop, tag)


def make_program(workdir: Path) -> Program:
    pcm = np.zeros(int(LOOP_SECONDS * RATE), np.int16)
    count = int(LOOP_SECONDS / MARKER_PERIOD)
    for i in range(count):
        start = int((MARKER_OFFSET + i * MARKER_PERIOD) * RATE)
        burst = marker_burst(i)
        pcm[start:start + burst.size] = burst
    wav, mp3 = write_wav(workdir / "program.wav", pcm, RATE), workdir / "program.mp3"
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(wav), "-c:a", "libmp3lame",
                    "-b:a", f"{BITRATE // 1000}k", "-ar", str(RATE), "-ac", "1", "-write_xing",
                    "0", "-id3v2_version", "0", "-f", "mp3", str(mp3)], check=True, timeout=60)
    data = mp3.read_bytes()
    if len(data) % FRAME_BYTES:
        raise RuntimeError(f"unexpected MP3 size {len(data)} (not whole {FRAME_BYTES}-byte frames)")
    frames = [data[i:i + FRAME_BYTES] for i in range(0, len(data), FRAME_BYTES)]
    # Where the bursts are, as a decoder sees them: decode the frames as a listener will.
    decoded = Decoded()
    decoded.feed(data, 0.0)
    markers = []
    for onset, frame_index, tag in decoded.onsets():
        markers.append((frame_index, tag))
    if len(markers) != count:
        raise RuntimeError(f"found {len(markers)} of {count} markers in the encoded program")
    return Program(frames, markers)


class Decoded:
    """MP3 bytes in (with their arrival time), PCM and per-frame arrival times out."""

    def __init__(self) -> None:
        self.codec = av.CodecContext.create("mp3", "r")
        self.chunks: list[np.ndarray] = []
        self.frame_times: list[float] = []  # arrival time of the packet of each output frame
        self.frame_starts: list[int] = []  # first sample of each output frame
        self.samples = 0
        self.bad_packets = 0

    def feed(self, data: bytes, arrived: float) -> None:
        for packet in self.codec.parse(data):
            try:
                frames = self.codec.decode(packet)
            except av.error.InvalidDataError:
                # A listener's stream starts wherever the server's buffer did, maybe
                # mid-frame: the decoder resynchronises on the next frame.
                self.bad_packets += 1
                continue
            for frame in frames:
                pcm = frame.to_ndarray().reshape(-1)
                if pcm.dtype != np.int16:
                    pcm = (np.clip(pcm, -1, 1) * 32767).astype(np.int16)
                self.chunks.append(pcm)
                self.frame_times.append(arrived)
                self.frame_starts.append(self.samples)
                self.samples += pcm.size

    def onsets(self) -> list[tuple[int, int, int]]:
        """(sample, output frame index, tag) of each marker onset."""
        if not self.chunks:
            return []
        pcm = np.concatenate(self.chunks)
        out = []
        starts = np.array(self.frame_starts)
        for onset, tag in marker_onsets(pcm):
            frame = int(np.searchsorted(starts, onset, side="right") - 1)
            out.append((onset, frame, tag))
        return out


# --- the server --------------------------------------------------------------------------


def icecast_config(workdir: Path, port: int, max_clients: int, burst_size: int) -> str:
    owner = ""
    if os.geteuid() == 0:
        # icecast2 refuses to run as root: it drops to this user after binding.
        owner = "<changeowner><user>nobody</user><group>nogroup</group></changeowner>"
    return f"""<icecast>
  <location>loopback benchmark</location>
  <admin>bench@localhost</admin>
  <limits>
    <clients>{max_clients}</clients>
    <sources>2</sources>
    <queue-size>524288</queue-size>
    <client-timeout>30</client-timeout>
    <header-timeout>15</header-timeout>
    <source-timeout>10</source-timeout>
    <burst-on-connect>{1 if burst_size else 0}</burst-on-connect>
    <burst-size>{burst_size}</burst-size>
  </limits>
  <authentication>
    <source-password>{SOURCE_PASSWORD}</source-password>
    <admin-user>admin</admin-user>
    <admin-password>{SOURCE_PASSWORD}</admin-password>
  </authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket><port>{port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <fileserve>1</fileserve>
  <paths>
    <basedir>/usr/share/icecast2</basedir>
    <logdir>{workdir}/log</logdir>
    <webroot>/usr/share/icecast2/web</webroot>
    <adminroot>/usr/share/icecast2/admin</adminroot>
    <pidfile>{workdir}/icecast.pid</pidfile>
  </paths>
  <logging>
    <accesslog>access.log</accesslog>
    <errorlog>error.log</errorlog>
    <loglevel>2</loglevel>
  </logging>
  <security><chroot>0</chroot>{owner}</security>
</icecast>
"""


class Icecast:
    """icecast2 in the foreground with a generated config inside `workdir`."""

    def __init__(self, workdir: Path, port: int, max_clients: int,
                 burst_size: int = DEFAULT_BURST) -> None:
        self.workdir, self.port = workdir, port
        self.max_clients, self.burst_size = max_clients, burst_size
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{MOUNT}"

    def start(self) -> Icecast:
        (self.workdir / "log").mkdir(parents=True, exist_ok=True)
        # It runs as nobody: it must reach and write its log directory (the workdir and
        # its parent, e.g. a private temporary directory, must be searchable).
        os.chmod(self.workdir.parent, 0o755)
        os.chmod(self.workdir, 0o755)
        os.chmod(self.workdir / "log", 0o777)
        config = self.workdir / "icecast.xml"
        config.write_text(icecast_config(self.workdir, self.port, self.max_clients,
                                         self.burst_size))
        out = open(self.workdir / "icecast.out", "ab")
        self.process = subprocess.Popen([ICECAST, "-c", str(config)], stdout=out,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()
        def listening() -> bool:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True

        wait_started(self.process, listening, f"icecast2 on port {self.port}", 10,
                     log=self.diagnostics, ignore=(OSError,), stop=self.stop)
        return self

    @property
    def access_log_path(self) -> Path:
        return self.workdir / "log" / "access.log"

    def listeners_logged(self, since: int = 0) -> list[tuple[int, int]]:
        """(bytes sent, seconds connected) of each listener that left, from icecast's
        access log (written when a listener disconnects), from byte offset `since`."""
        out = []
        try:
            with open(self.access_log_path, errors="replace") as f:
                f.seek(since)
                for line in f:
                    parts = line.split('"')
                    if len(parts) >= 3 and MOUNT in parts[1]:
                        fields = parts[2].split()
                        tail = line.split()
                        if len(fields) >= 2 and fields[1].isdigit() and tail[-1].isdigit():
                            out.append((int(fields[1]), int(tail[-1])))
        except FileNotFoundError:
            pass
        return out

    def listener_count(self) -> int:
        """Listeners on the mount now (icecast's /status-json.xsl)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                sock.sendall(b"GET /status-json.xsl HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
        except OSError:
            return -1
        body = data.split(b"\r\n\r\n", 1)[-1]
        try:
            # icecast 2.4.4 writes `"dummy":null}}` without an opening brace: not JSON.
            match = re.search(rb'"listeners":(\d+)', body)
            return int(match[1]) if match else 0
        except ValueError:
            return -1

    def log_offset(self) -> int:
        try:
            return self.access_log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def diagnostics(self) -> str:
        texts = []
        for path in (self.workdir / "icecast.out", self.workdir / "log" / "error.log"):
            if path.exists():
                texts.append(path.read_text(errors="replace")[-2000:])
        return "\n".join(texts)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_process(self.process)

    def __enter__(self) -> Icecast:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the source client -------------------------------------------------------------------


class Source(threading.Thread):
    """Sends the program to the mount in real time, frame by frame, for at most
    `max_seconds`; notes when each marker's frame was sent."""

    def __init__(self, program: Program, port: int, max_seconds: float) -> None:
        super().__init__(daemon=True)
        self.program, self.port, self.max_seconds = program, port, max_seconds
        self.sent: list[tuple[float, int]] = []  # (wall time, tag)
        self.stop_event = threading.Event()
        self.error: Exception | None = None
        self.frames_sent = 0
        self.cpu_seconds = 0.0  # this thread's CPU

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        auth = base64.b64encode(f"source:{SOURCE_PASSWORD}".encode()).decode()
        sock.sendall((f"SOURCE {MOUNT} HTTP/1.0\r\nAuthorization: Basic {auth}\r\n"
                      "Content-Type: audio/mpeg\r\nIce-Name: townhall-bench\r\n"
                      "Ice-Public: 0\r\n\r\n").encode())
        answer = sock.recv(1024)
        if b" 200 " not in answer.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"icecast refused the source: {answer[:200]!r}")
        return sock

    def run(self) -> None:
        cpu0 = time.thread_time()
        try:
            for attempt in range(10):
                try:
                    sock = self.connect()
                    break
                except (OSError, RuntimeError):
                    # Just started: icecast may reset the first connection.
                    if attempt == 9:
                        raise
                    time.sleep(0.5)
            markers = dict(self.program.markers)
            frames = self.program.frames
            start = time.time()
            end = time.monotonic() + self.max_seconds
            n = 0
            # Five frames (120 ms) per send, on the wall clock.
            while not self.stop_event.is_set() and time.monotonic() < end:
                due = start + n * FRAME_SECONDS
                delay = due - time.time()
                if delay > 0:
                    time.sleep(delay)
                batch = []
                for i in range(n, n + 5):
                    batch.append(frames[i % len(frames)])
                # Noted before sending: a listener cannot have it earlier.
                now = time.time()
                sock.sendall(b"".join(batch))
                for i in range(n, n + 5):
                    tag = markers.get(i % len(frames))
                    if tag is not None:
                        self.sent.append((now, tag))
                n += 5
                self.frames_sent = n
            sock.close()
        except Exception as error:  # noqa: BLE001 - reported by the benchmark
            self.error = error
        finally:
            self.cpu_seconds = time.thread_time() - cpu0

    def match(self, arrived: float, tag: int) -> float | None:
        """Latency of the newest burst with this tag sent before `arrived`."""
        candidates = [arrived - t for t, k in self.sent if k == tag and t <= arrived]
        return min(candidates) if candidates else None


# --- a measuring listener ------------------------------------------------------------------


@dataclass
class ListenerMeasure:
    connected_at: float = 0.0
    total_bytes: int = 0
    seconds: float = 0.0
    # Marker delay from the source's send to the listener, (a) as it arrived, (b) as a
    # player that starts playing the first byte at once (no buffer of its own) plays it.
    arrival_latencies: list[float] = field(default_factory=list)
    play_latencies: list[float] = field(default_factory=list)
    stalled: bool = False  # the stream ran slower than real time: (b) does not hold
    error: str = ""

    @property
    def burst_seconds(self) -> float:
        """Audio received beyond real time: what the server sent at once on connect."""
        return max(0.0, self.total_bytes * 8 / BITRATE - self.seconds)


def measure_listener(url_port: int, source: Source, seconds: float) -> ListenerMeasure:
    """Connect, read and decode for `seconds`; the marker latencies and the burst."""
    result = ListenerMeasure()
    decoded = Decoded()
    try:
        sock = socket.create_connection(("127.0.0.1", url_port), timeout=10)
        sock.sendall(f"GET {MOUNT} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        result.connected_at = time.time()
        header = b""
        while b"\r\n\r\n" not in header:
            chunk = sock.recv(4096)
            if not chunk:
                raise RuntimeError("icecast closed the connection")
            header += chunk
        head, body = header.split(b"\r\n\r\n", 1)
        first = time.time()
        end = time.monotonic() + seconds
        data = body
        while True:
            now = time.time()
            if data:
                result.total_bytes += len(data)
                decoded.feed(data, now)
            if time.monotonic() >= end:
                break
            sock.settimeout(max(0.05, end - time.monotonic()))
            try:
                data = sock.recv(65536)
            except TimeoutError:
                data = b""
                continue
            if not data:
                break
        result.seconds = time.time() - first
        sock.close()
    except Exception as error:  # noqa: BLE001
        result.error = repr(error)
    if not decoded.frame_times:
        return result
    start = decoded.frame_times[0]
    # Playable audio never ran out: each frame arrived before its play time.
    result.stalled = any(t > start + first / RATE + 0.05
                         for t, first in zip(decoded.frame_times, decoded.frame_starts))
    for sample, frame, tag in decoded.onsets():
        arrival = source.match(decoded.frame_times[frame], tag)
        if arrival is not None:
            result.arrival_latencies.append(arrival)
        play = source.match(start + sample / RATE, tag)
        if play is not None:
            result.play_latencies.append(play)
    return result


def tempdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="townhall-icecast-")


# --- many listeners: a ramped asyncio generator (own process) ------------------------------
#
# wrk opens all its connections at once; icecast2 listens with a backlog of 5, so most of
# them wait for SYN retransmits (1, 3, 7, 15, 31 s ...) and some are not in after 45 s.
# This opens connections a few at a time, then only reads: asyncio Protocol callbacks,
# no per-read coroutine, so ~2,000 listeners at 8 kB/s cost a fraction of a core.
# A few at a time is not enough: a handshake completes in the listen queue before
# icecast2 accepts it, so connects also start at most CONNECT_RATE a second (in a
# 2026-12-04 run without it only 558-1,597 of 2,000-5,000 were in after 60 s: the queue
# overflowed and connects waited for SYN retransmits).

CONNECT_CONCURRENCY = 4
CONNECT_RATE = 100.0


class _Listener(asyncio.Protocol):
    def __init__(self, stats: dict[str, int], done: asyncio.Future[None], path: str) -> None:
        self.stats, self.done, self.path = stats, done, path

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        # HTTP/1.0 to icecast2 (a stream to the close); elsewhere (Nchan's chunked
        # subscriber) HTTP/1.1 with the TE header it asks for.
        extra = "" if self.path == MOUNT else "TE: chunked\r\n"
        version = "1.0" if self.path == MOUNT else "1.1"
        transport.write(f"GET {self.path} HTTP/{version}\r\nHost: 127.0.0.1\r\n{extra}\r\n"
                        .encode())
        self.stats["connected"] += 1

    def data_received(self, data: bytes) -> None:
        self.stats["bytes"] += len(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.stats["connected"] -= 1
        self.stats["lost"] += 1
        if not self.done.done():
            self.done.set_result(None)


async def _hold(port: int, count: int, seconds: float, path: str = MOUNT) -> dict[str, int]:
    loop = asyncio.get_running_loop()
    stats = {"connected": 0, "bytes": 0, "lost": 0, "failed": 0, "opened": 0}
    stop_at = loop.time() + seconds
    transports = []
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def open_one(index: int) -> None:
        await asyncio.sleep(index / CONNECT_RATE)
        async with gate:
            for _ in range(5):
                if loop.time() > stop_at:
                    return
                try:
                    transport, _ = await asyncio.wait_for(loop.create_connection(
                        lambda: _Listener(stats, loop.create_future(), path), "127.0.0.1", port), 10)
                    transports.append(transport)
                    stats["opened"] += 1
                    return
                except (OSError, asyncio.TimeoutError):
                    await asyncio.sleep(0.2)
            stats["failed"] += 1

    async def report() -> None:
        while True:
            print(json.dumps(stats), flush=True)
            await asyncio.sleep(2.0)

    reporter = asyncio.create_task(report())
    opening = [asyncio.create_task(open_one(i)) for i in range(count)]
    stop = asyncio.Event()
    import signal as _signal

    for sig in (_signal.SIGINT, _signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, stop_at - loop.time()))
    except asyncio.TimeoutError:
        pass
    reporter.cancel()
    for task in opening:
        task.cancel()
    for transport in transports:
        transport.abort()
    return stats


if __name__ == "__main__":
    import resource
    import sys

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # python -m benchmarks._icecast PORT LISTENERS SECONDS [PATH]
    final = asyncio.run(_hold(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]),
                              *sys.argv[4:5]))
    print("FINAL " + json.dumps(final), flush=True)
