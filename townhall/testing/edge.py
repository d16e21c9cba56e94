"""nginx with a rendered edge config, as an unprivileged foreground subprocess for tests
and benchmarks; reads its access log to count what reached the origins."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from townhall.edge.config import RLIMIT_NOFILE, render_nginx_config
from townhall.testing import cpu
from townhall.testing.foreground import ForegroundServer
from townhall.testing.servers import free_port
from townhall.testing.waiting import wait_started

NGINX = os.environ.get("TOWNHALL_NGINX", shutil.which("nginx") or "/usr/sbin/nginx")
# How long nginx may take to answer its first request.
STARTUP_TIMEOUT = 10.0


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


class NginxEdge(ForegroundServer):
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
        wait_started(self.process,
                     lambda: httpx.get(self.url + "/edge/healthz", timeout=1).status_code == 200,
                     f"nginx on {self.url}", STARTUP_TIMEOUT, log=self._diagnostics,
                     interval=0.05, ignore=(httpx.TransportError,), stop=self.stop)
        return self

    def reload(self) -> None:
        """`nginx -s reload`: the master re-reads its config, starts new workers and lets
        the old ones finish what they serve (an operator's config change)."""
        assert self.process is not None
        before = set(cpu.child_pids(self.process.pid))
        self.process.send_signal(signal.SIGHUP)
        wait_started(self.process, lambda: not before & set(cpu.child_pids(self.process.pid)),
                     f"nginx on {self.url} to replace its workers", STARTUP_TIMEOUT,
                     log=self._diagnostics, interval=0.05)

    def restart(self) -> None:
        """A hard restart on the same port: stopped (connections cut), then started."""
        self.stop()
        self.start()

    def _diagnostics(self) -> str:
        texts = []
        for path in (self.workdir / "nginx.out", self.error_log_path):
            if path.exists():
                texts.append(path.read_text(errors="replace")[-3000:])
        return "\n".join(texts)

    # --- measurement (pids, cpu_seconds: ForegroundServer; the master and its
    # workers, cache manager and loader included) ---------------------------------------

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
