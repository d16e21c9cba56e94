"""Varnish with the rendered LL-DASH edge VCL (townhall/edge/varnish.py), as a
foreground subprocess for tests and benchmarks, everything inside `workdir`; reads
varnishstat's counters to tell what reached the origins."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx

from townhall.edge.varnish import render_varnish_config, varnish_parameters
from townhall.testing.foreground import ForegroundServer
from townhall.testing.servers import free_port
from townhall.testing.waiting import wait_started

VARNISHD = os.environ.get("TOWNHALL_VARNISHD", shutil.which("varnishd") or "/usr/sbin/varnishd")
VARNISHSTAT = shutil.which("varnishstat") or "/usr/bin/varnishstat"
# varnishd compiles the VCL (a C compiler run) before it answers.
STARTUP_TIMEOUT = 30.0
# Cache storage: segments of a few live Spaces (64 kb/s, minutes) fit many times over.
STORAGE = "malloc,256m"


class VarnishEdge(ForegroundServer):
    """varnishd -F with the edge VCL in front of `origins`.

    >>> with VarnishEdge(["127.0.0.1:8081"], Path("/tmp/varnish")) as edge:
    ...     httpx.get(edge.url + "/hls/demo/live.mpd")
    """

    def __init__(self, origins: list[str], workdir: Path, port: int | None = None,
                 parameters: dict[str, str] | None = None) -> None:
        self.origins = list(origins)
        self.workdir = Path(workdir).resolve()
        self.port = port or free_port()
        self.parameters = parameters or {}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def name_dir(self) -> Path:
        """varnishd's -n directory (its shared memory log and counters)."""
        return self.workdir / "varnishd"

    def start(self) -> VarnishEdge:
        self.workdir.mkdir(parents=True, exist_ok=True)
        vcl = self.workdir / "edge.vcl"
        vcl.write_text(render_varnish_config(self.origins))
        output = open(self.workdir / "varnishd.out", "ab")
        # -j none: no privilege separation (the workdir may be private to this user);
        # -T none: no management port (nothing here needs varnishadm).
        self.process = subprocess.Popen(
            [VARNISHD, "-F", "-j", "none", "-n", str(self.name_dir), "-T", "none",
             "-a", f"127.0.0.1:{self.port}", "-f", str(vcl), "-s", STORAGE,
             *varnish_parameters(self.parameters)],
            stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        output.close()
        wait_started(self.process,
                     lambda: httpx.get(self.url + "/edge/healthz", timeout=1).status_code == 200,
                     f"varnishd on {self.url}", STARTUP_TIMEOUT, log=self._diagnostics,
                     interval=0.1, ignore=(httpx.TransportError,), stop=self.stop)
        return self

    def _diagnostics(self) -> str:
        path = self.workdir / "varnishd.out"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def counters(self) -> dict[str, int]:
        """varnishstat's counters (MAIN.client_req, MAIN.backend_req, ...)."""
        out = subprocess.run([VARNISHSTAT, "-n", str(self.name_dir), "-1", "-j"],
                             capture_output=True, check=True, timeout=10).stdout
        data = json.loads(out)
        counters = data.get("counters", data)  # varnish >= 6.5 nests them
        return {name: int(value["value"]) for name, value in counters.items()
                if isinstance(value, dict) and "value" in value}

    def origin_requests(self) -> int:
        return self.counters().get("MAIN.backend_req", 0)
