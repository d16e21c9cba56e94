"""Shared pieces of the benchmarks: a server subprocess, users and Spaces through the
API, and result tables (audio markers and their onsets: townhall.testing.audio).

Everything talks to 127.0.0.1 only: the server is started by tests/conftest.py's
start_server(), which restricts ICE to loopback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np

from townhall.testing.servers import (
    LOOPBACK_ICE,
    Server,
    free_port,
    live_space,
    signed_in_client,
    stage,
    start_server,
    stop_server,
    wait_healthy,
)
from townhall import limits

__all__ = ["Server", "live_space", "signed_in_client", "stage"]

RATE = limits.SAMPLE_RATE
REPO_ROOT = Path(__file__).resolve().parent.parent
# Seconds a patched server gets to answer /healthz.
STARTUP_TIMEOUT = 30.0
_T0 = time.monotonic()


def log(message: str) -> None:
    """Progress line, prefixed with seconds since the benchmark started."""
    print(f"[{time.monotonic() - _T0:6.1f}s] {message}", flush=True)


class Deadline:
    """A wall-clock budget shared by every loop of a benchmark."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def check(self, what: str) -> None:
        if self.left() <= 0:
            raise TimeoutError(f"deadline passed while {what}")


@contextlib.contextmanager
def running_server(command: str = "serve", audio_prefetch: int | None = None,
                   extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    """`townhall serve` in a temporary directory; warns if its log has a traceback.

    With `audio_prefetch`, the server runs with aiortc's audio jitter-buffer prefetch
    patched (benchmarks/_prefetch.py), an experiment that leaves Townhall unchanged.
    """
    with tempfile.TemporaryDirectory(prefix="townhall-bench-") as tmp:
        if audio_prefetch is None:
            server = start_server(Path(tmp), command, extra_env=extra_env)
        else:
            server = _start_patched_server(Path(tmp), command, audio_prefetch)
        log(f"server pid {server.process.pid} on {server.base_url}")
        try:
            yield server
        finally:
            stop_server(server)
            text = server.log()
            if "Traceback" in text:
                print("WARNING: the server log has a traceback; its tail:", file=sys.stderr)
                print(text[-4000:], file=sys.stderr)


def _start_patched_server(tmp: Path, command: str, audio_prefetch: int) -> Server:
    """Like tests/conftest.py's start_server, via `python -m benchmarks._prefetch`."""
    return start_patched_server(tmp, "benchmarks._prefetch", command,
                                {"TOWNHALL_BENCH_AUDIO_PREFETCH": str(audio_prefetch)})


def start_patched_server(tmp: Path, module: str, command: str,
                         extra_env: dict[str, str]) -> Server:
    """Like tests/conftest.py's start_server, via `python -m <module>` (a benchmarks
    module that patches something, then runs the townhall CLI); waits up to
    STARTUP_TIMEOUT for /healthz."""
    port = free_port()
    env = {**os.environ, **LOOPBACK_ICE, "TOWNHALL_LOG_LEVEL": "info", **extra_env,
           # The server runs in `tmp`; it must still find the benchmarks package.
           "PYTHONPATH": str(REPO_ROOT)}
    log_path = tmp / "server.log"
    with open(log_path, "wb") as out:  # the child has its own copy
        process = subprocess.Popen(
            [sys.executable, "-m", module, command, "--port", str(port),
             "--data-dir", str(tmp / "data")],
            cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", tmp / "data", process, log_path)
    wait_healthy(server, STARTUP_TIMEOUT)
    return server


def stop_process(process: subprocess.Popen, sig: int = signal.SIGTERM,
                 timeout: float = 10.0) -> None:
    """Send `sig` and wait up to `timeout` seconds for the process to exit; then kill it."""
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def invite_speaker(host: httpx.Client, guest: httpx.Client, space_id: str) -> None:
    """The host invites, the guest accepts: the guest may then get stage credentials."""
    invite = host.post(f"/api/spaces/{space_id}/invites")
    invite.raise_for_status()
    accepted = guest.post(f"/api/spaces/{space_id}/invites/{invite.json()['code']}/accept")
    accepted.raise_for_status()
    assert accepted.json()["your_role"] == "speaker", accepted.text


# --- results -------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    # Nearest-rank: with ~20-30 samples an interpolated p95 would invent precision.
    rank = max(1, int(np.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "min": min(values) if values else float("nan"),
        "p50": statistics.median(values) if values else float("nan"),
        "p95": percentile(values, 95),
        "max": max(values) if values else float("nan"),
    }


def print_table(headers: list[str], rows: list[list[object]]) -> None:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = "  ".join("-" * w for w in widths)
    print(line)
    for n, row in enumerate(cells):
        # First column (labels) and the header row left-aligned, numbers right-aligned.
        print("  ".join(c.rjust(w) if n and i else c.ljust(w)
                        for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if n == 0:
            print(line)
    print(line, flush=True)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.1f}"
    return str(value)
