"""The nginx edge in front of Townhall origins: `render_nginx_config` writes a complete
nginx.conf for any number of origins (deploy/nginx/townhall.conf is its output).

Running nginx with it for tests and benchmarks is townhall.testing.edge's job.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from townhall import limits

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
# Avatar uploads through the edge: twice what an origin accepts (limits.MAX_AVATAR_BYTES),
# so a file somewhat too large still reaches the origin and is refused in words.
AVATAR_BODY = f"{2 * limits.MAX_AVATAR_BYTES // (1024 * 1024)}m"
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
# The one-stream listener path (Nchan): the module Debian's libnginx-mod-nchan installs;
# chunks an edge keeps per Space (a joiner gets them all at once: ~2 s to start on, so
# its player can start at its target distance from live) and for how long at most.
NCHAN_MODULE = "/usr/lib/nginx/modules/ngx_nchan_module.so"
STREAM_BUFFER_CHUNKS = 2
STREAM_MESSAGE_TIMEOUT = "30s"
# Accept queue for join storms (the kernel caps it at net.core.somaxconn).
BACKLOG = 4096

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
             "CONN_PER_ADDRESS", "BACKLOG", "STATIC_VALID", "AVATAR_BODY", "NCHAN_MODULE",
             "STREAM_BUFFER_CHUNKS", "STREAM_MESSAGE_TIMEOUT")


def _tunables() -> dict[str, object]:
    return {name.lower(): globals()[name] for name in _TUNABLES}


def _check_origin(origin: str) -> str:
    host, sep, port = origin.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or any(
        c in origin for c in " ;{}'\"\n\t#"
    ):
        raise ValueError(f"an origin is HOST:PORT, got {origin!r}")
    return origin


def _publishers(origins: list[str], more: Iterable[str]) -> list[str]:
    nets = []
    for origin in origins:
        host = origin.rpartition(":")[0].strip("[]")
        try:
            nets.append(str(ipaddress.ip_address(host)))
        except ValueError:
            pass  # a host name: give its address as a stream publisher
    for net in more:
        nets.append(str(ipaddress.ip_network(net, strict=False)))
    return list(dict.fromkeys(nets))


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
    stream_publishers: Iterable[str] = (),
) -> str:
    """A complete nginx.conf for an edge in front of `origins` ("host:port" each).

    With `prefix_dir`, the pid file, logs and temporary files live there (a private,
    unprivileged nginx); otherwise in the usual system places (/run, /var/log/nginx,
    nginx's own temporary directories). `unlimited_clients` (addresses or CIDRs) are
    exempt from the per-client limits and may read /metrics. `stream_publishers`
    (addresses or CIDRs) may publish stream chunks; the origins given as IP addresses
    always may.
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
        stream_publishers=_publishers(origins, stream_publishers),
        **_tunables(),
        # Two descriptors per connection (client and origin) and some to spare.
        worker_connections=min(WORKER_CONNECTIONS, max(1024, (max_open_files - 1024) // 2)),
        rlimit_nofile=max_open_files,
    )
