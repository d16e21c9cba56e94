"""A real Townhall server process on loopback, signed-in API clients, and the steps
most tests share (a live Space, stage credentials, a listener that follows the HLS)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from townhall.testing.waiting import wait_started
from townhall.tools.clients.hls import HlsReader
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher, sine

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
STARTUP_TIMEOUT = 30.0
# ICE stays on loopback in tests: advertise and accept 127.0.0.1 only.
LOOPBACK_ICE = {
    "TOWNHALL_ICE_HOST_ADDRESSES": "127.0.0.1",
    "TOWNHALL_ICE_ALLOWED_NETWORKS": "127.0.0.0/8",
}
# Live captions are on by default in a real deployment; test and benchmark servers play
# tones and run many Spaces at once, so they turn them on only where they test them.
CAPTIONS_OFF = {"TOWNHALL_CAPTIONS": "false"}
# Every test user signs up from 127.0.0.1: the shared server lets them (the per-address
# sign-up limit itself is tested on a server of its own).
# Its tests' hosts also create and run many Spaces (the per-account limits are tested on
# servers of their own too), mostly idle ones that a node's mixing budget would refuse
# long before they cost a core (admission is tested on a server of its own).
MANY_SIGNUPS = {"TOWNHALL_MIX_BUDGET": "1000",
                "TOWNHALL_SIGNUP_BURST": "100000", "TOWNHALL_SIGNIN_BURST": "100000",
                "TOWNHALL_SPACE_CREATE_BURST": "100000",
                "TOWNHALL_MAX_SCHEDULED_SPACES_PER_HOST": "100000",
                "TOWNHALL_MAX_LIVE_SPACES_PER_HOST": "100000",
                "TOWNHALL_STAGE_TOKEN_BURST": "100000", "TOWNHALL_INVITE_LINK_BURST": "100000"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base_url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(tmp: Path, command: str = "demo", extra_env: dict[str, str] | None = None,
                 port: int | None = None) -> Server:
    """Run `townhall <command>` with its data in tmp/data (kept across restarts)."""
    port = port or free_port()
    data_dir = tmp / "data"
    log_path = tmp / "server.log"
    env = {**os.environ, **LOOPBACK_ICE, **CAPTIONS_OFF, "TOWNHALL_LOG_LEVEL": "info",
           **(extra_env or {})}
    log_file = open(log_path, "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "townhall.cli", command, "--port", str(port), "--data-dir", str(data_dir)],
        cwd=tmp,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    log_file.close()  # the child has its own copy
    server = Server(f"http://127.0.0.1:{port}", data_dir, process, log_path)
    wait_healthy(server)
    return server


def wait_healthy(server: Server, timeout: float = STARTUP_TIMEOUT) -> None:
    """Wait until a just-started server answers /healthz with 200 (see wait_started)."""
    wait_started(server.process, lambda: httpx.get(f"{server.base_url}/healthz",
                                                   timeout=1).status_code == 200,
                 "the server", timeout, log=server.log, ignore=(httpx.TransportError,))


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


_user_counter = iter(range(1, 10**6))


# Test clients drop an idle connection after this long: the server (uvicorn) closes one
# idle for 5 s, and httpx's default is also 5 s, so a request sent on a connection idle
# just that long could meet the server's close (connection reset: one CI run's fixture
# teardown did). Dropping it first means a new connection instead.
CLIENT_KEEPALIVE_EXPIRY = 2.0
CLIENT_LIMITS = httpx.Limits(keepalive_expiry=CLIENT_KEEPALIVE_EXPIRY)


def signed_in_client(base_url: str, prefix: str = "user") -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=20, limits=CLIENT_LIMITS)
    name = f"{prefix}{next(_user_counter)}_{os.getpid()}"
    response = client.post("/api/auth/signup", json={"username": name, "password": "correct horse"})
    assert response.status_code == 201, response.text
    return client


def live_space(host: httpx.Client, title: str = "Test Space") -> dict:
    space = host.post("/api/spaces", json={"title": title})
    assert space.status_code == 201, space.text
    live = host.post(f"/api/spaces/{space.json()['id']}/live")
    assert live.status_code == 200, live.text
    return live.json()


def stage(client: httpx.Client, space_id: str) -> dict:
    response = client.post(f"/api/spaces/{space_id}/stage")
    assert response.status_code == 200, response.text
    return response.json()


def invite_speaker(host: httpx.Client, guest: httpx.Client, space_id: str) -> None:
    """The host's invite link, accepted by the guest: the guest is a speaker."""
    code = host.post(f"/api/spaces/{space_id}/invites").json()["code"]
    response = guest.post(f"/api/spaces/{space_id}/invites/{code}/accept")
    assert response.status_code == 200, response.text
    assert response.json()["your_role"] == "speaker"


def two_tone_speakers(host: httpx.Client, guest: httpx.Client, space_id: str,
                      host_hz: float = 440, guest_hz: float = 880) -> tuple[WhipPublisher, WhipPublisher]:
    """WHIP publishers (not started) for the host and an invited guest, each a sine."""
    invite_speaker(host, guest, space_id)
    a, b = stage(host, space_id), stage(guest, space_id)
    return (WhipPublisher(a["whip_url"], a["token"], SyntheticTrack(sine(host_hz))),
            WhipPublisher(b["whip_url"], b["token"], SyntheticTrack(sine(guest_hz))))


@asynccontextmanager
async def listening_throughout(hls_url: str) -> AsyncIterator[HlsReader]:
    """A listener that follows the live HLS in the background for the whole block, and a
    few parts beyond it (so what happened at the end is heard too)."""
    async with httpx.AsyncClient() as client:
        reader = HlsReader(hls_url, client)
        await reader.start(parts_back=0)
        await reader.read_seconds(1.0, timeout=20)
        stop = asyncio.Event()

        async def keep_listening() -> None:
            while not stop.is_set():
                await reader.read_next()

        listening = asyncio.create_task(keep_listening())
        try:
            yield reader
            n = len(reader.parts)
            deadline = time.monotonic() + 10
            while len(reader.parts) < n + 4 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await listening


def largest_gap_since(reader: HlsReader, since: float) -> float:
    """The longest wait between two parts the listener got after `since` (wall clock)."""
    times = [p.fetched_at for p in reader.parts if p.fetched_at >= since]
    assert len(times) >= 2, "the listener got no parts"
    return max(b - a for a, b in zip(times, times[1:]))
