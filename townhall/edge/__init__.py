"""The nginx edge in front of Townhall origins (issue #4).

`render_nginx_config` writes a complete nginx.conf for any number of origins (the
example in deploy/nginx/townhall.conf is its output); `NginxEdge` runs nginx with such a
config as an unprivileged foreground subprocess, for tests and benchmarks, and reads
its access log to count what reached the origins.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx
from jinja2 import Environment, PackageLoader, StrictUndefined

NGINX = os.environ.get("TOWNHALL_NGINX", shutil.which("nginx") or "/usr/sbin/nginx")
DEFAULT_CACHE_DIR = Path("/var/cache/townhall")

# --- the values in the config, each with its reason ------------------------------------
# A dead origin is taken out after this many failures, for this long: short, so a
# restarted origin gets traffic back within seconds.
MAX_FAILS = 2
FAIL_TIMEOUT = "3s"
# Connecting to a live origin takes well under a millisecond on a LAN; a host that does
# not answer within a second is treated as down and the next origin is tried.
CONNECT_TIMEOUT = "1s"
# A request is tried on at most this many origins, and only within this time.
NEXT_UPSTREAM_TRIES = 3
NEXT_UPSTREAM_TIMEOUT = "2s"
# Idle keep-alive connections each worker keeps to the origins.
UPSTREAM_KEEPALIVE = 64
# Cache lock: how long a request waits for another's origin request to fill the cache
# before going to the origin itself (uncached). nginx wakes waiters on a timer, every
# min(500 ms, this timeout), not when the answer lands, so a waiter gets the part up to
# 0.5 s after it exists (measured: deploy/nginx/README.md, "The cache lock"). A timeout
# of one part (300 ms) answered 0.2 s sooner but, once the origin took > 300 ms under
# load, sent every waiter to the origin uncached (100 origin requests per part at 2,000
# listeners, slowing it further: BENCHMARKS.md section 7); 2 s keeps the herd at the edge
# through such spells (2–3 origin requests per part up to 5,000 listeners).
LOCK_TIMEOUT = "2s"
# Longer than the origin holds a legitimate blocking request (next part: <= 0.3 s),
# shorter than its 6 s limit, so a stuck origin request does not hold everyone.
LOCK_AGE = "1s"
# Cached HLS objects: keep their file descriptors open (the proxy cache otherwise opens
# and stats a file per hit; measured ~17 % of nginx's CPU per request).
OPEN_FILE_CACHE = "max=10000 inactive=30s"
# The origin answers a blocking reload within 3 target durations (6 s).
HLS_READ_TIMEOUT = "15s"
# Cache: key zone (1 MB holds ~8,000 keys), disk bound, idle time before eviction.
CACHE_KEYS_ZONE = "32m"
CACHE_MAX_SIZE = "2g"
CACHE_INACTIVE = "10m"
# Static files when the origin sends no Cache-Control: they change only with a deploy.
STATIC_VALID = "60s"
# Per-client-address limits for the API, sign-in/up, WHIP (requests/s, then a burst
# answered at once), and open API/WHIP connections.
API_RATE, API_BURST = "20r/s", 100
AUTH_RATE, AUTH_BURST = "1r/s", 10
WHIP_RATE, WHIP_BURST = "1r/s", 10
CONN_PER_ADDRESS = 100
# Connections per worker, and file descriptors (a connection can need two: client and
# origin).
WORKER_CONNECTIONS = 16384
RLIMIT_NOFILE = 2 * WORKER_CONNECTIONS + 1024
# Accept queue for join storms (the kernel caps it at net.core.somaxconn).
BACKLOG = 4096

STARTUP_TIMEOUT = 10.0

_templates = Environment(
    loader=PackageLoader("townhall", "edge"),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


# The constants above that the template uses, by their lower-case names. Read at render
# time, so an experiment (benchmarks/edge_cache_lock.py) may change one.
_TUNABLES = ("MAX_FAILS", "FAIL_TIMEOUT", "CONNECT_TIMEOUT", "NEXT_UPSTREAM_TRIES",
             "NEXT_UPSTREAM_TIMEOUT", "UPSTREAM_KEEPALIVE", "LOCK_TIMEOUT", "LOCK_AGE",
             "OPEN_FILE_CACHE",
             "HLS_READ_TIMEOUT", "CACHE_KEYS_ZONE", "CACHE_MAX_SIZE", "CACHE_INACTIVE",
             "API_RATE", "API_BURST", "AUTH_RATE", "AUTH_BURST", "WHIP_RATE", "WHIP_BURST",
             "CONN_PER_ADDRESS", "BACKLOG", "STATIC_VALID")


def _tunables() -> dict[str, object]:
    return {name.lower(): globals()[name] for name in _TUNABLES}


def _check_origin(origin: str) -> str:
    host, sep, port = origin.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or any(
        c in origin for c in " ;{}'\"\n\t#"
    ):
        raise ValueError(f"an origin is HOST:PORT, got {origin!r}")
    return origin


def render_nginx_config(
    origins: list[str],
    listen: str = "127.0.0.1:8080",
    cache_dir: Path = DEFAULT_CACHE_DIR,
    worker_processes: int | str = "auto",
    prefix_dir: Path | None = None,
    access_log: bool = True,
    *,
    user: str | None = None,
    unlimited_clients: Iterable[str] = (),
    max_open_files: int = RLIMIT_NOFILE,
) -> str:
    """A complete nginx.conf for an edge in front of `origins` ("host:port" each).

    With `prefix_dir`, the pid file, logs and temporary files live there (a private,
    unprivileged nginx); otherwise in the usual system places (/run, /var/log/nginx,
    nginx's own temporary directories). `unlimited_clients` (addresses or CIDRs) are
    exempt from the per-client limits and may read /metrics.
    """
    if not origins:
        raise ValueError("at least one origin")
    if prefix_dir is None:
        paths = {"pid": "/run/townhall-edge.pid",
                 "error_log": "/var/log/nginx/townhall-error.log",
                 "access_log": "/var/log/nginx/townhall-access.log",
                 "temp": None}  # nginx's compiled-in places
    else:
        paths = {"pid": f"{prefix_dir}/nginx.pid", "error_log": f"{prefix_dir}/logs/error.log",
                 "access_log": f"{prefix_dir}/logs/access.log", "temp": f"{prefix_dir}/temp"}
    return _templates.get_template("nginx.conf.j2").render(
        origins=[_check_origin(o) for o in origins],
        listen=listen,
        cache_dir=cache_dir,
        worker_processes=worker_processes,
        paths=paths,
        access_log=access_log,
        user=user,
        unlimited_clients=list(unlimited_clients),
        **_tunables(),
        # Two descriptors per connection (client and origin) and some to spare.
        worker_connections=min(WORKER_CONNECTIONS, max(1024, (max_open_files - 1024) // 2)),
        rlimit_nofile=max_open_files,
    )


@dataclass(frozen=True)
class LogEntry:
    """One access-log line."""

    time: float
    client: str
    method: str
    uri: str
    status: int
    cache: str  # HIT, MISS, EXPIRED, UPDATING, STALE, BYPASS or "-"
    origins: tuple[str, ...]  # origins asked, in order ("" when none)
    origin_statuses: tuple[str, ...]
    request_time: float

    @property
    def origin_requests(self) -> int:
        return len(self.origins)


def _split(value: str, prefix: str) -> tuple[str, ...]:
    value = value.removeprefix(prefix)
    if value in ("", "-"):
        return ()
    # "a, b" when the next origin was tried; "a : b" across internal redirects.
    return tuple(v.strip() for v in value.replace(" : ", ", ").split(",") if v.strip())


def parse_log_line(line: str) -> LogEntry | None:
    fields = line.rstrip("\n").split("\t")
    if len(fields) != 9:
        return None
    msec, client, method, uri, status, cache, origin, origin_status, request_time = fields
    cache = cache.removeprefix("cache=")
    return LogEntry(float(msec), client, method, uri, int(status), cache or "-",
                    _split(origin, "origin="), _split(origin_status, "origin_status="),
                    float(request_time))


def _hard_nofile_limit() -> int:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return RLIMIT_NOFILE if hard == resource.RLIM_INFINITY else hard


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NginxEdge:
    """nginx in the foreground with a rendered config, everything inside `workdir`.

    >>> with NginxEdge(["127.0.0.1:8081"], Path("/tmp/edge")) as edge:
    ...     httpx.get(edge.url + "/hls/demo/live.m3u8")
    """

    def __init__(self, origins: list[str], workdir: Path, port: int | None = None,
                 worker_processes: int = 1, *, unlimited_clients: Iterable[str] = (),
                 access_log: bool = True) -> None:
        self.origins = list(origins)
        self.workdir = Path(workdir).resolve()
        self.port = port or free_port()
        self.worker_processes = worker_processes
        self.unlimited_clients = list(unlimited_clients)
        self.access_log = access_log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "nginx.conf"

    @property
    def access_log_path(self) -> Path:
        return self.workdir / "logs" / "access.log"

    @property
    def error_log_path(self) -> Path:
        return self.workdir / "logs" / "error.log"

    def render(self) -> str:
        return render_nginx_config(
            self.origins, listen=f"127.0.0.1:{self.port}", cache_dir=self.workdir / "cache",
            worker_processes=self.worker_processes, prefix_dir=self.workdir,
            access_log=self.access_log,
            # Started as root, nginx would run workers as `nobody`, who may not reach a
            # private workdir (pytest's tmp is 0700): keep them as root then.
            user="root" if os.geteuid() == 0 else None,
            unlimited_clients=self.unlimited_clients,
            # Unprivileged, nginx cannot raise its file limit beyond the hard limit.
            max_open_files=min(RLIMIT_NOFILE, _hard_nofile_limit()))

    def start(self) -> NginxEdge:
        for sub in ("logs", "temp", "cache"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.render())
        output = open(self.workdir / "nginx.out", "ab")
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.workdir), "-c", str(self.config_path),
             "-e", str(self.error_log_path), "-g", "daemon off;"],
            stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        output.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.process.returncode}:\n"
                                   f"{self._diagnostics()}")
            try:
                if httpx.get(self.url + "/edge/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nginx did not answer on {self.url}:\n{self._diagnostics()}")
            time.sleep(0.05)

    def _diagnostics(self) -> str:
        texts = []
        for path in (self.workdir / "nginx.out", self.error_log_path):
            if path.exists():
                texts.append(path.read_text(errors="replace")[-3000:])
        return "\n".join(texts)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # fast shutdown; workers exit with it
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> NginxEdge:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- measurement -------------------------------------------------------------------

    def pids(self) -> list[int]:
        """The master's pid and its workers' (cache manager/loader included)."""
        if self.process is None or self.process.poll() is not None:
            return []
        master = self.process.pid
        children = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # Field 4 (after the parenthesised name) is the parent pid.
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                children.append(int(entry.name))
        return [master, *sorted(children)]

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the master and its current workers."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / ticks

    def log_offset(self) -> int:
        """Where the access log ends now: pass it as `since` to count only what follows."""
        try:
            return self.access_log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_entries(self, since: int = 0) -> Iterator[LogEntry]:
        try:
            with open(self.access_log_path, encoding="utf-8", errors="replace") as f:
                f.seek(since)
                for line in f:
                    entry = parse_log_line(line)
                    if entry is not None:
                        yield entry
        except FileNotFoundError:
            return

    def upstream_requests(self, since: int = 0, uri_prefix: str = "",
                          expect_logged: int = 0, timeout: float = 2.0) -> int:
        """Requests the edge sent to origins (a retry on another origin counts twice),
        among logged requests whose URI starts with `uri_prefix`.

        nginx writes a request's log line after the client has its answer: with
        `expect_logged`, wait (up to `timeout`) until that many matching lines exist.
        """
        deadline = time.monotonic() + timeout
        while True:
            entries = [e for e in self.log_entries(since) if e.uri.startswith(uri_prefix)]
            if len(entries) >= expect_logged or time.monotonic() > deadline:
                return sum(e.origin_requests for e in entries)
            time.sleep(0.01)
