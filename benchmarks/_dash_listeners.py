"""Many LL-DASH listeners in one asyncio process, each behaving like dash.js on a live
chunked-CMAF MPD (townhall/media/dash.py), for benchmarks/icecast_side_by_side.py.

    python -m benchmarks._dash_listeners BASE_URL SPACE LISTENERS SECONDS [JOIN_PER_S [MPD_S]]

Each listener, from its own source address (127.20.x.y): at join GET /hls/clock (the
MPD's UTCTiming), the MPD and the init segment; it computes the newest available
segment from the clock and Period@start (available one chunk after it starts:
availabilityTimeOffset), asks for it and reads it as it streams; then asks for the
next one at its availability time, and so on; the MPD again every
limits.DASH_MANIFEST_REFRESH_SECONDS (or the sixth argument's seconds). Two keep-alive
connections per listener, as a browser would hold them: one for segments (busy ~7 of
every 8 s), one for the rest.

Chunk delay: the generator counts the `mdat` boxes of each segment as they arrive (one
per 0.256 s part, as dash.js hands a chunk on when its `mdat` completes); when the last
part of a 1.024 s chunk is complete, the delay is now - (Period@start + the chunk's
media end time), i.e. how late its last sample reached the listener after it was
mixed (the encoder's own buffering included), on this machine's clock. A player steers
by its estimate of the server's clock (from /hls/clock, as dash.js does): a slow clock
answer skews it by up to half the round trip (reported: `clock_offset`).

Raw asyncio Protocols and a minimal HTTP/1.1 client (status line, Content-Length or
chunked): no coroutine per read, so thousands of listeners cost a fraction of a core;
the benchmark measures this process's CPU apart.

Signals: SIGUSR1 starts a measuring window, SIGUSR2 ends it (prints `WINDOW {json}`),
SIGINT/SIGTERM stop (prints `FINAL {json}`). `STATUS {json}` every 2 s.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

from benchmarks._parts import patch_limits

patch_limits()  # a chunk-size experiment's limits, before townhall.media reads them
from townhall import limits  # noqa: E402
from townhall.media import dash  # noqa: E402

CHUNK_PARTS = limits.DASH_PARTS_PER_CHUNK
PART_SECONDS = dash.PART_SAMPLES / limits.SAMPLE_RATE
# A segment is available one chunk after it starts (the MPD's availabilityTimeOffset).
AVAILABLE_AFTER = dash.CHUNK_SECONDS
# A failed request is tried again this much later, as dash.js does (its retryIntervals:
# 1 s for a media segment, 0.5 s for the MPD). A failed clock request is not retried:
# dash.js falls back to the device's clock.
SEGMENT_RETRY_SECONDS = 1.0
MANIFEST_RETRY_SECONDS = 0.5
# Answers other than media are small (an MPD is ~1.2 KB): more means something is wrong.
MAX_SMALL_BODY = 256 * 1024
_PERIOD = re.compile(rb'<Period id="run-(\d+)" start="PT([0-9.]+)S"')


class Response:
    """What one request got: status, and the body handed to `on_data` as it comes."""

    def __init__(self, path: str, on_data: Callable[[bytes], None],
                 on_done: Callable[[int], None]) -> None:
        self.path, self.on_data, self.on_done = path, on_data, on_done
        self.status = 0


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time (no pipelining)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.current: Response | None = None
        self.buffer = b""
        self.state = "idle"  # head, length, size, data, crlf, trailer
        self.remaining = 0
        self.close_after = False

    # --- asyncio ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        current, self.current = self.current, None
        self.state = "idle"
        if current is not None:
            self.client.stats["lost"] += 1
            key = "lost_" + current.path.rsplit("/", 1)[-1].split("-", 1)[0][:8]
            self.client.stats[key] = self.client.stats.get(key, 0) + 1
            current.on_done(0)

    def data_received(self, data: bytes) -> None:
        if self.buffer:
            data = self.buffer + data
            self.buffer = b""
        pos, end = 0, len(data)
        while pos < end and self.current is not None:
            state = self.state
            if state == "data" or state == "length":
                take = min(self.remaining, end - pos)
                self.current.on_data(data[pos:pos + take])
                pos += take
                self.remaining -= take
                if self.remaining == 0:
                    if state == "length":
                        self._finish()
                    else:
                        self.state = "crlf"
            elif state == "head":
                cut = data.find(b"\r\n\r\n", pos)
                if cut < 0:
                    break
                self._head(data[pos:cut])
                pos = cut + 4
            elif state == "size":
                cut = data.find(b"\r\n", pos)
                if cut < 0:
                    break
                size = int(data[pos:cut].split(b";", 1)[0], 16)
                pos = cut + 2
                if size:
                    self.state, self.remaining = "data", size
                else:
                    self.state = "trailer"
            elif state == "crlf":
                if end - pos < 2:
                    break
                pos += 2
                self.state = "size"
            elif state == "trailer":
                cut = data.find(b"\r\n", pos)
                if cut < 0:
                    break
                empty = cut == pos
                pos = cut + 2
                if empty:
                    self._finish()
        if pos < end and self.current is not None:
            self.buffer = data[pos:]

    # --- HTTP ------------------------------------------------------------------------

    def send(self, host: str, response: Response) -> None:
        assert self.transport is not None and self.current is None
        self.current, self.state, self.buffer = response, "head", b""
        self.transport.write(f"GET {response.path} HTTP/1.1\r\nHost: {host}\r\n"
                             "User-Agent: townhall-dash-bench\r\n\r\n".encode())
        self.client.stats["requests"] += 1

    def _head(self, head: bytes) -> None:
        assert self.current is not None
        lines = head.split(b"\r\n")
        self.current.status = int(lines[0].split(b" ", 2)[1])
        chunked, length, self.close_after = False, 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"content-length":
                length = int(value)
            elif name == b"connection":
                self.close_after = b"close" in value.lower()
        if chunked:
            self.state = "size"
        elif length:
            self.state, self.remaining = "length", length
        else:
            self._finish()

    def _finish(self) -> None:
        current, self.current, self.state = self.current, None, "idle"
        if self.close_after and self.transport is not None:
            self.transport.close()
        assert current is not None
        if current.status != 200:
            kind = current.path.rsplit("/", 1)[-1].split("-", 1)[0][:8]
            key = f"status_{current.status}_{kind}"
            self.client.stats[key] = self.client.stats.get(key, 0) + 1
        current.on_done(current.status)


class Client:
    """The shared pieces: where the edge is, the counters, the delays."""

    def __init__(self, base_url: str, space: str, manifest_refresh: float) -> None:
        url = urlsplit(base_url)
        self.manifest_refresh = manifest_refresh  # seconds between a player's MPD reads
        self.host_header = url.netloc
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.prefix = f"/hls/{space}/"
        self.loop = asyncio.get_running_loop()
        self.stats: dict[str, int] = {
            "joined": 0, "playing": 0, "requests": 0, "segment_requests": 0,
            "manifest_requests": 0, "chunks": 0, "bytes": 0, "errors": 0, "lost": 0,
            "connect_failed": 0, "late_segments": 0, "clock_failed": 0}
        self.delays: list[float] = []
        self.offsets: list[float] = []  # each player's clock offset (true one: ~0)

    def call_at_wall(self, wall: float, callback: Callable[[], None]) -> None:
        self.loop.call_at(self.loop.time() + (wall - time.time()), callback)


class Listener:
    """One dash.js-like player."""

    def __init__(self, client: Client, index: int) -> None:
        self.client, self.index = client, index
        self.source = f"127.20.{index // 250}.{index % 250 + 1}"
        self.connections: dict[str, Connection | None] = {"media": None, "other": None}
        self.period_start = 0.0
        self.run = 0
        self.clock_offset = 0.0  # server - local, from /hls/clock
        self.number = 0
        self.parts = 0  # complete mdat boxes in the current segment
        self.box_left = 0  # bytes of the current box still to come
        self.box_head = b""
        self.box_is_mdat = False
        self.stopped = False

    # --- connections -----------------------------------------------------------------

    def request(self, which: str, path: str, on_data: Callable[[bytes], None],
                on_done: Callable[[int], None]) -> None:
        connection = self.connections[which]
        if connection is not None and connection.transport is not None \
                and connection.current is None:
            connection.send(self.client.host_header, Response(path, on_data, on_done))
            return
        asyncio.ensure_future(self._connect_and_send(which, Response(path, on_data, on_done)))

    async def _connect_and_send(self, which: str, response: Response) -> None:
        client = self.client
        try:
            _, connection = await asyncio.wait_for(client.loop.create_connection(
                lambda: Connection(client), client.host, client.port,
                local_addr=(self.source, 0)), 10)
        except (OSError, asyncio.TimeoutError):
            client.stats["connect_failed"] += 1
            response.on_done(0)
            return
        self.connections[which] = connection
        connection.send(client.host_header, response)

    # --- the player ------------------------------------------------------------------

    def join(self) -> None:
        sent = time.time()

        def clock_done(status: int) -> None:
            try:
                server = datetime.fromisoformat(body.decode().strip().replace("Z", "+00:00"))
                self.clock_offset = server.timestamp() - (sent + time.time()) / 2
                self.client.offsets.append(self.clock_offset)
            except ValueError:
                self.client.stats["clock_failed"] += 1  # the device's clock, then
            self.manifest(first=True)

        body = bytearray()
        self.request("other", "/hls/clock", body.extend, clock_done)

    def now(self) -> float:
        return time.time() + self.clock_offset

    def manifest(self, first: bool = False) -> None:
        if self.stopped:
            return
        body = bytearray()

        def done(status: int) -> None:
            if self.stopped:
                return
            match = _PERIOD.findall(bytes(body)) if status == 200 else []
            if not match:
                self.client.stats["errors"] += 1
                return self._retry(lambda: self.manifest(first), MANIFEST_RETRY_SECONDS)
            # The newest Period is the run on air.
            self.run, start = int(match[-1][0]), float(match[-1][1])
            changed = start != self.period_start
            self.period_start = start
            self.client.call_at_wall(time.time() + self.client.manifest_refresh, self.manifest)
            if first:
                self.request("other", self.client.prefix + "init.mp4", lambda d: None,
                             lambda s: self.start_playing())
            elif changed:
                self.client.stats["errors"] += 1  # a new run: not expected in a benchmark

        def data(chunk: bytes) -> None:
            if len(body) < MAX_SMALL_BODY:
                body.extend(chunk)

        self.client.stats["manifest_requests"] += 1
        self.request("other", self.client.prefix + dash.MANIFEST_NAME, data, done)

    def start_playing(self) -> None:
        self.client.stats["joined"] += 1
        self.client.stats["playing"] += 1
        # The newest segment whose first chunk exists (the first, in a Space younger
        # than a chunk: the edge holds the request until it starts).
        self.number = max(0, int((self.now() - self.period_start - AVAILABLE_AFTER)
                                 // dash.SEGMENT_SECONDS))
        self.fetch_segment()

    def available_at(self, number: int) -> float:
        """Local wall time at which segment `number` is available."""
        return self.period_start + number * dash.SEGMENT_SECONDS + AVAILABLE_AFTER \
            - self.clock_offset

    def fetch_segment(self) -> None:
        if self.stopped:
            return
        self.parts, self.box_left, self.box_head = 0, 0, b""
        number = self.number
        self.client.stats["segment_requests"] += 1
        self.request("media", self.client.prefix + dash.segment_file(self.run, number),
                     self.segment_data, lambda status: self.segment_done(number, status))

    def segment_data(self, data: bytes) -> None:
        """Walk the top-level boxes; a complete `mdat` is a part."""
        self.client.stats["bytes"] += len(data)
        pos, end = 0, len(data)
        while pos < end:
            if self.box_left:
                take = min(self.box_left, end - pos)
                pos += take
                self.box_left -= take
                if self.box_left == 0 and self.box_is_mdat:
                    self.part_done()
                continue
            need = 8 - len(self.box_head)
            self.box_head += data[pos:pos + need]
            pos += need
            if len(self.box_head) < 8:
                break
            size = int.from_bytes(self.box_head[:4], "big")
            self.box_is_mdat = self.box_head[4:8] == b"mdat"
            self.box_head = b""
            self.box_left = size - 8  # no 64-bit box sizes in these segments
            if self.box_left <= 0 and self.box_is_mdat:
                self.part_done()

    def part_done(self) -> None:
        self.parts += 1
        if self.parts % CHUNK_PARTS == 0:
            self.chunk_done()

    def chunk_done(self) -> None:
        # Measured on this machine's clock (the origin's: the same machine), not the
        # player's estimate of the server's, which steers only when it asks.
        media_end = self.number * dash.SEGMENT_SECONDS + self.parts * PART_SECONDS
        self.client.delays.append(time.time() - (self.period_start + media_end))
        self.client.stats["chunks"] += 1

    def segment_done(self, number: int, status: int) -> None:
        if self.stopped:
            return
        if status != 200:
            self.client.stats["errors"] += 1
            return self._retry(self.fetch_segment, SEGMENT_RETRY_SECONDS)
        if self.parts % CHUNK_PARTS:
            self.chunk_done()  # a run that ended inside a chunk
        self.number = number + 1
        due = self.available_at(self.number)
        if due <= time.time():
            # The next one is already out: the player fell behind by a segment.
            self.client.stats["late_segments"] += 1
            self.fetch_segment()
        else:
            self.client.call_at_wall(due, self.fetch_segment)

    def _retry(self, again: Callable[[], None], delay: float) -> None:
        if not self.stopped:
            self.client.loop.call_later(delay, again)

    def stop(self) -> None:
        self.stopped = True
        for connection in self.connections.values():
            if connection is not None and connection.transport is not None:
                connection.transport.abort()


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    ordered = sorted(values)
    rank = lambda q: ordered[max(0, min(len(ordered) - 1, int(q * len(ordered)) - 1))]  # noqa: E731
    return {"n": len(ordered), "p50": statistics.median(ordered), "p95": rank(0.95),
            "p99": rank(0.99), "max": ordered[-1]}


async def run(base_url: str, space: str, count: int, seconds: float, join_rate: float,
              manifest_refresh: float = limits.DASH_MANIFEST_REFRESH_SECONDS) -> dict:
    client = Client(base_url, space, manifest_refresh)
    loop = client.loop
    listeners = [Listener(client, i) for i in range(count)]
    started = time.time()
    for i, listener in enumerate(listeners):
        loop.call_later(i / join_rate, listener.join)
    window: dict[str, object] = {}

    def window_start() -> None:
        window.update(t=time.time(), stats=dict(client.stats))
        client.delays = []

    def window_end() -> None:
        t0 = float(window.get("t", started))  # type: ignore[arg-type]
        before: dict[str, int] = window.get("stats", {})  # type: ignore[assignment]
        elapsed = time.time() - t0
        delta = {k: v - before.get(k, 0) for k, v in client.stats.items()}
        playing = (before.get("playing", 0) + client.stats["playing"]) / 2
        listener_s = playing * elapsed
        out = {"seconds": elapsed, "playing": client.stats["playing"], "delta": delta,
               "listener_seconds": listener_s,
               "requests_per_listener_s": delta["requests"] / listener_s if listener_s else 0,
               "chunks_per_listener_s": delta["chunks"] / listener_s if listener_s else 0,
               "delay": _summary(client.delays),
               "clock_offset": _summary([abs(o) for o in client.offsets])}
        print("WINDOW " + json.dumps(out), flush=True)

    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, window_start)
    loop.add_signal_handler(signal.SIGUSR2, window_end)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def report() -> None:
        while True:
            print("STATUS " + json.dumps(client.stats), flush=True)
            await asyncio.sleep(2.0)

    reporter = asyncio.create_task(report())
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass
    reporter.cancel()
    for listener in listeners:
        listener.stop()
    return client.stats


if __name__ == "__main__":
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    base, space_id, n, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    rate = float(sys.argv[5]) if len(sys.argv) > 5 else 200.0
    refresh = float(sys.argv[6]) if len(sys.argv) > 6 else limits.DASH_MANIFEST_REFRESH_SECONDS
    final = asyncio.run(run(base, space_id, n, secs, rate, refresh))
    print("FINAL " + json.dumps(final), flush=True)
