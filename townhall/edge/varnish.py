"""The Varnish edge of the LL-DASH listener path: `render_varnish_config` writes the VCL
for any number of origins, `varnish_parameters` the varnishd run-time parameters
(deploy/varnish/ holds their output). Running varnishd for tests and benchmarks is
townhall.testing.varnish's job.

Why Varnish here and nginx for LL-HLS: nginx never serves an object still being fetched
(its cache lock's waiters poll on a timer and get whole objects), while Varnish streams
a busy object to all its waiters, so one origin request per DASH segment serves every
listener as the audio is made (/work/shared/FIELD-NOTES.md, "Edges that stream").
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, StrictUndefined

from townhall.edge.config import _check_origin
from townhall.media import dash

# --- the values in the VCL, each with its reason ---------------------------------------
# As the nginx edge: a live origin connects in well under a millisecond.
CONNECT_TIMEOUT = "1s"
# A streamed segment's answer starts with its first chunk, one chunk after the segment
# starts (up to a segment later when asked early), and then comes a chunk per second:
# beyond these the origin is stuck.
FIRST_BYTE_TIMEOUT = f"{round(dash.SEGMENT_SECONDS + 4)}s"
BETWEEN_BYTES_TIMEOUT = "5s"
# Health probes (GET /healthz): a dead origin is out within ~3 s, and a busy one (a
# join storm: BENCHMARKS.md §13 saw 500 ms probes time out and every answer turn 503)
# stays in. A fetch that fails on a dead origin is retried on the next (RETRIES).
PROBE_INTERVAL, PROBE_TIMEOUT = "1s", "2s"
PROBE_WINDOW, PROBE_THRESHOLD = 5, 3
# A "not yet" answer is remembered as uncacheable this long (Varnish's default is two
# minutes, in which every request for that name would go to the origin uncoalesced).
NOT_YET_TTL = "1s"
# Origins a failed fetch is tried on after the first.
RETRIES = 2

# --- varnishd parameters (-p), each with its reason ------------------------------------
PARAMETERS = {
    # A listener asks for the next segment every 8 s: keep its connection (and its
    # session) across that gap instead of a new TCP connection per segment.
    "timeout_idle": str(round(dash.SEGMENT_SECONDS * 2)),
    # One pool: every chunk wakes each delivery thread of the object; on a small machine
    # one pool's threads share caches and locks better than two.
    "thread_pools": "1",
    # Listeners each hold a delivery thread while a segment streams.
    "thread_pool_max": "10000",
    "thread_pool_min": "200",
    # Small thread stacks: thousands of mostly idle delivery threads.
    "thread_pool_stack": "80k",
    # A streaming segment is sent as it arrives; no client may hold it forever.
    "send_timeout": "60",
}

_templates = Environment(loader=PackageLoader("townhall", "edge"), undefined=StrictUndefined,
                         trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


@dataclass(frozen=True)
class _Origin:
    host: str
    port: int


def render_varnish_config(origins: list[str]) -> str:
    """The VCL for an edge in front of `origins` ("host:port" each)."""
    if not origins:
        raise ValueError("at least one origin")
    parsed = []
    for origin in origins:
        host, _, port = _check_origin(origin).rpartition(":")
        parsed.append(_Origin(host.strip("[]"), int(port)))
    return _templates.get_template("varnish.vcl.j2").render(
        origins=parsed, connect_timeout=CONNECT_TIMEOUT, first_byte_timeout=FIRST_BYTE_TIMEOUT,
        between_bytes_timeout=BETWEEN_BYTES_TIMEOUT, probe_interval=PROBE_INTERVAL,
        probe_timeout=PROBE_TIMEOUT, probe_window=PROBE_WINDOW,
        probe_threshold=PROBE_THRESHOLD, not_yet_ttl=NOT_YET_TTL, retries=RETRIES,
        segment_seconds=f"{dash.SEGMENT_SECONDS:.3f}")


def varnish_parameters(overrides: dict[str, str] | None = None) -> list[str]:
    """varnishd's `-p name=value` arguments."""
    args: list[str] = []
    for name, value in {**PARAMETERS, **(overrides or {})}.items():
        args += ["-p", f"{name}={value}"]
    return args
