"""Squid as an LL-DASH edge (benchmarks only): a reverse proxy whose one event loop hands
each arriving chunk of a segment still being fetched to every client reading it, where
Varnish wakes one delivery thread per client per chunk (BENCHMARKS.md §13).

Same interface as townhall.testing.varnish.VarnishEdge where the benchmark uses it: url,
workdir, pids(), cpu_seconds(), origin_requests()."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx

from townhall.testing.foreground import ForegroundServer
from townhall.testing.servers import free_port
from townhall.testing.waiting import wait_started

SQUID = os.environ.get("TOWNHALL_SQUID", shutil.which("squid") or "/usr/sbin/squid")
STARTUP_TIMEOUT = 30.0
# Memory cache: segments of a few live Spaces (64 kb/s, minutes) fit many times over.
CACHE_MEM_MB = 256


def render_squid_config(origin: str, port: int, workdir: Path) -> str:
    host, origin_port = origin.rsplit(":", 1)
    return f"""\
# Townhall's LL-DASH edge on Squid (benchmark lever, townhall/testing/squid.py).
http_port 127.0.0.1:{port} accel defaultsite=townhall no-vhost
cache_peer {host} parent {origin_port} 0 no-query originserver name=origin0 \\
    connect-timeout=1 forceddomain={host}
# Concurrent requests for one segment before its headers arrive wait for that one fetch;
# those after join the entry while it is still arriving.
collapsed_forwarding on
acl media urlpath_regex ^/hls/
http_access allow all
cache_peer_access origin0 allow all
cache allow media
cache deny all
never_direct allow all
# Memory only (a live segment is read within seconds of its making).
cache_mem {CACHE_MEM_MB} MB
maximum_object_size_in_memory 1 MB
memory_cache_shared off
workers 1
# As the Varnish edge: no access log (varnishd's shared-memory log costs it little).
access_log none
cache_store_log none
logfile_rotate 0
cache_log {workdir}/cache.log
pid_filename {workdir}/squid.pid
coredump_dir {workdir}
cache_effective_user proxy
via off
forwarded_for delete
httpd_suppress_version_string on
client_idle_pconn_timeout 16 seconds
read_timeout 12 seconds
shutdown_lifetime 0 seconds
max_filedescriptors 65536
"""


class SquidEdge(ForegroundServer):
    """squid -N (one process, no daemon) in front of one origin."""

    def __init__(self, origins: list[str], workdir: Path, port: int | None = None,
                 parameters: dict[str, str] | None = None) -> None:
        if parameters:  # varnishd -p overrides: nothing of Squid's to set them on
            raise ValueError(f"SquidEdge takes no varnishd parameters: {parameters}")
        self.origins = list(origins)
        self.workdir = Path(workdir).resolve()
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SquidEdge:
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o777)  # squid runs as `proxy` and writes its log here
        conf = self.workdir / "squid.conf"
        conf.write_text(render_squid_config(self.origins[0], self.port, self.workdir))
        output = open(self.workdir / "squid.out", "ab")
        self.process = subprocess.Popen(
            [SQUID, "-N", "-d", "1", "-f", str(conf)],
            stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        output.close()
        wait_started(self.process,
                     lambda: httpx.get(self.url + "/healthz", timeout=1).status_code == 200,
                     f"squid on {self.url}", STARTUP_TIMEOUT, log=self._diagnostics,
                     interval=0.1, ignore=(httpx.TransportError,), stop=self.stop)
        return self

    def _diagnostics(self) -> str:
        parts = []
        for name in ("squid.out", "cache.log"):
            path = self.workdir / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-3000:])
        return "\n".join(parts)

    def counters(self) -> dict[str, int]:
        """Squid's cache manager counters (client_http.requests, server.http.requests, ...)."""
        text = httpx.get(self.url + "/squid-internal-mgr/counters", timeout=5).text
        counters = {}
        for line in text.splitlines():
            name, _, value = line.partition(" = ")
            if value.strip().isdigit():
                counters[name.strip()] = int(value)
        return counters

    def origin_requests(self) -> int:
        return self.counters().get("server.http.requests", -1)
