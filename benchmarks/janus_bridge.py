"""CPU of Janus AudioBridge mixing a room of aiortc participants: the reference point for
Townhall's own mixer (benchmarks/space_cpu.py).

Janus (the Debian `janus` package, 1.1.x) runs as a subprocess with only the AudioBridge
plugin and the plain HTTP transport loaded. Rooms are created at 48 kHz over the HTTP
API; each participant is an aiortc peer connection (its own Janus session and handle,
as a browser would have) sending a 48 kHz tone, or digital silence: a connected speaker
who says nothing, which the bridge still decodes and mixes. Janus's user + system CPU
time (all its threads, townhall.testing.cpu) is measured over a fixed window, after a
warm-up that starts once every participant receives audio, as % of one core. The
participants run in this process (the load generator), whose CPU is shown apart.

Each row also says how much audio the slowest participant received (seconds per second,
1.00 = real time) and whether each one heard a mix-minus: the other talkers' tones,
never its own.

Pitfall: Janus (libnice) leaves loopback interfaces out of its ICE candidates, so on a
machine whose only interface is `lo` it cannot be reached at 127.0.0.1. Everything
(Janus and the participants) therefore runs in a fresh network namespace (`unshare -n`,
needs root) holding a veth pair, Janus on one end, the participants on the other: this
module re-runs itself inside it (`--inside`) and reads back a JSON file. Nothing leaves
that namespace. Both ends being local addresses of one namespace, Janus's packets (sent
out of its veth device) arrive at the other end with a local source address: the
namespace must accept those (sysctl accept_local), or ICE never completes.

    .venv/bin/python -m benchmarks.janus_bridge --participants 1,4,13 --talking 2 \\
        --window 20 [--rooms 1] [--all-talking] [--json OUT.json]

or from Python: measure_janus([1, 4, 13], talking=2, window=20.0, all_talking_too=True).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ctypes
import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import psutil
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from benchmarks._common import REPO_ROOT, Deadline, log, print_table, stop_process
from townhall import limits
from townhall.testing import cpu
from townhall.testing.audio import dominant_frequency
from townhall.tools.clients.whip import SyntheticTrack, advertise_only, sine

RATE = limits.SAMPLE_RATE

# --- the namespace --------------------------------------------------------------------

JANUS_IP = "10.77.0.1"  # Janus's end of the veth pair: its HTTP API and ICE candidate
CLIENT_IP = "10.77.0.2"  # the participants' end
JANUS_IF, CLIENT_IF = "thA", "thB"
NAMESPACE_SETUP = " && ".join([
    "ip link set lo up",
    f"ip link add {JANUS_IF} type veth peer name {CLIENT_IF}",
    f"ip addr add {JANUS_IP}/24 dev {JANUS_IF}",
    f"ip addr add {CLIENT_IP}/24 dev {CLIENT_IF}",
    f"ip link set {JANUS_IF} up",
    f"ip link set {CLIENT_IF} up",
    # libnice sends out of its interface's device (thA): the packet comes in on thB with a
    # local source address, which the kernel drops as martian unless told to accept it.
    f"sysctl -qw net.ipv4.conf.{JANUS_IF}.accept_local=1 net.ipv4.conf.{CLIENT_IF}.accept_local=1",
])
# The namespace is new and empty, so Janus's usual port is free.
JANUS_HTTP_PORT = 8088

# --- Janus ----------------------------------------------------------------------------

JANUS_BINARY = "/usr/bin/janus"
JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
AUDIOBRIDGE = "janus.plugin.audiobridge"
FIRST_ROOM = 1001
# Seconds for Janus to answer GET /janus/info after it starts (plugins load, DTLS key).
STARTUP_TIMEOUT = 20.0
# Janus holds a long poll up to 30 s, then answers a keepalive: wait a bit longer.
LONG_POLL_TIMEOUT = 40.0
# Seconds for one API request, or for the event (the SDP answer) that follows it.
REQUEST_TIMEOUT = 15.0
# libprctl: the kernel SIGTERMs Janus if the process that started it dies (no orphan).
PR_SET_PDEATHSIG = 1

# --- measurement ----------------------------------------------------------------------

WARM_UP = 5.0  # seconds after every participant receives audio before the window opens
# Each participant must receive this much more audio before the warm-up starts.
FIRST_AUDIO = 0.2
# Quiet enough that 13 tones sum without clipping (13 x 0.05 = 0.65 of full scale), as
# in space_cpu.py.
TONE_AMPLITUDE = 0.05


def tone_frequency(index: int) -> float:
    # 70 Hz apart: far more than the 2 Hz bins of a 0.5 s FFT, and no tone of 13 is a
    # harmonic of another one's within FREQUENCY_TOLERANCE.
    return 300.0 + 70.0 * index


# The mix-minus check looks at the last half second each participant received...
CHECK_SECONDS = 0.5
# ...whose strongest frequency must be within this of a talker's tone (tones are 70 Hz
# apart; Opus moves a tone by a bin or two at most).
FREQUENCY_TOLERANCE = 10.0
# Audio kept per participant for that check: 50 frames of 20 ms, 1 s.
KEPT_FRAMES = 50
# Wall-clock budget of the inner run: setup, then per participant joined and per window.
BUDGET_SETUP = 60.0
BUDGET_PER_JOIN = 10.0
BUDGET_PER_WINDOW_EXTRA = WARM_UP + 20.0  # waiting for audio, the check, the progress
MAX_WINDOW = 60.0
# Seconds to close every peer connection and session at the end, before stopping Janus.
CLOSE_TIMEOUT = 15.0


@dataclass
class Row:
    participants: int  # per room (0: rooms created, nobody joined)
    talking: int  # per room: the first `talking` participants send tones
    rooms: int
    janus_pct: float
    loadgen_pct: float
    mix_rate_min: float  # slowest participant, seconds received per second (nan: none)
    mixminus_ok: bool
    window_s: float


# --- the outer process -------------------------------------------------------------------


def measure_janus(participant_counts: list[int], talking: int | None, window: float,
                  rooms: int = 1, all_talking_too: bool = False) -> list[dict]:
    """Janus AudioBridge's CPU, one dict per configuration (see Row), the empty room
    first, then each participant count in increasing order with the first `talking`
    participants talking (None: all of them) and, with `all_talking_too`, again with all
    of them talking. Runs in a new network namespace (root only); raises RuntimeError
    if the run fails."""
    counts = sorted({int(c) for c in participant_counts if int(c) > 0})
    window = max(2.0, min(float(window), MAX_WINDOW))
    budget = run_budget(counts, talking, window, rooms, all_talking_too)
    with tempfile.TemporaryDirectory(prefix="janus-bridge-") as tmp:
        out = Path(tmp) / "rows.json"
        inner = [sys.executable, "-m", "benchmarks.janus_bridge", "--inside",
                 "--participants", ",".join(map(str, counts)), "--window", str(window),
                 "--rooms", str(rooms), "--json", str(out)]
        if talking is not None:
            inner += ["--talking", str(talking)]
        if all_talking_too:
            inner.append("--all-talking")
        script = f"{NAMESPACE_SETUP} && exec {shlex.join(inner)}"
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        log(f"running Janus in a network namespace (budget {budget:.0f} s)")
        # unshare and sh both exec: the process started is the inner Python itself.
        process = subprocess.Popen(["unshare", "-n", "sh", "-c", script], cwd=REPO_ROOT, env=env)
        try:
            code = process.wait(timeout=budget + 30.0)
        except subprocess.TimeoutExpired:
            stop_process(process)
            raise RuntimeError(f"the Janus run took more than {budget + 30:.0f} s") from None
        if code != 0 or not out.exists():
            raise RuntimeError(f"the Janus run failed (exit status {code}); see its output above")
        return json.loads(out.read_text())["rows"]


def run_budget(counts: list[int], talking: int | None, window: float, rooms: int,
               all_talking_too: bool) -> float:
    windows = 1 + sum(len(talking_modes(p, talking, all_talking_too)) for p in counts)
    joins = rooms * (max(counts) if counts else 0)
    return BUDGET_SETUP + BUDGET_PER_JOIN * joins + windows * (window + BUDGET_PER_WINDOW_EXTRA)


def talking_modes(participants: int, talking: int | None, all_talking_too: bool) -> list[int]:
    """The talker counts measured with this many participants."""
    modes = [participants if talking is None else min(talking, participants)]
    if all_talking_too and participants not in modes:
        modes.append(participants)
    return modes


# --- Janus in the namespace -----------------------------------------------------------------


def write_config(folder: Path) -> None:
    """janus.jcfg (AudioBridge and HTTP only, no event handlers nor loggers), the HTTP
    transport's and the (empty) AudioBridge's configuration."""

    def others(kind: str, keep: str = "") -> str:
        # Janus loads every `*.so` in a folder that its `disable` list does not name.
        names = sorted(p.name for p in (JANUS_LIB / kind).glob("*.so") if p.name != keep)
        return ",".join(names)

    (folder / "janus.jcfg").write_text(f"""general: {{
    configs_folder = "{folder}"
    plugins_folder = "{JANUS_LIB / 'plugins'}"
    transports_folder = "{JANUS_LIB / 'transports'}"
    events_folder = "{JANUS_LIB / 'events'}"
    loggers_folder = "{JANUS_LIB / 'loggers'}"
    interface = "{JANUS_IP}"
    log_to_stdout = true
    debug_level = 3
}}
media: {{
    rtp_port_range = "20000-40000"
}}
nat: {{
    nice_debug = false
    ice_enforce_list = "{JANUS_IF}"
}}
plugins: {{
    disable = "{others('plugins', keep='libjanus_audiobridge.so')}"
}}
transports: {{
    disable = "{others('transports', keep='libjanus_http.so')}"
}}
loggers: {{
    disable = "{others('loggers')}"
}}
events: {{
    broadcast = false
    disable = "{others('events')}"
}}
""")
    (folder / "janus.transport.http.jcfg").write_text(f"""general: {{
    json = "compact"
    base_path = "/janus"
    http = true
    port = {JANUS_HTTP_PORT}
    ip = "{JANUS_IP}"
    https = false
}}
admin: {{
    admin_http = false
    admin_https = false
}}
""")
    (folder / "janus.plugin.audiobridge.jcfg").write_text("general: {\n}\n")


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_janus(folder: Path) -> subprocess.Popen:
    write_config(folder)
    with open(folder / "janus.log", "wb") as out:  # the child has its own copy
        return subprocess.Popen(
            [JANUS_BINARY, f"--configs-folder={folder}", f"--config={folder / 'janus.jcfg'}",
             "--disable-colors"],
            cwd=folder, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
        )


async def wait_janus(client: httpx.AsyncClient, janus: subprocess.Popen, log_path: Path) -> None:
    end = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < end:
        if janus.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"janus exited ({janus.returncode}):\n{tail}")
        try:
            reply = await client.get("/janus/info", timeout=2.0)
            if reply.status_code == 200 and reply.json().get("janus") == "server_info":
                plugins = sorted(reply.json().get("plugins", {}))
                version = reply.json().get("version_string")
                log(f"janus {version} pid {janus.pid}, plugins {plugins}")
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError(f"janus did not answer /janus/info in {STARTUP_TIMEOUT:.0f} s")


class JanusError(RuntimeError):
    pass


class Session:
    """One Janus session with one AudioBridge handle; a long poll runs all along (it
    also keeps the session alive) and hands events over by transaction."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.url = ""
        self.events: dict[str, asyncio.Future[dict]] = {}
        self.hangups: list[dict] = []
        self._poll: asyncio.Task[None] | None = None

    async def _post(self, url: str, body: dict[str, Any]) -> dict:
        reply = await self.client.post(url, json={**body, "transaction": uuid.uuid4().hex},
                                       timeout=REQUEST_TIMEOUT)
        reply.raise_for_status()
        data = reply.json()
        if data.get("janus") == "error":
            raise JanusError(f"{body}: {data['error']}")
        return data

    async def open(self) -> None:
        created = await self._post("/janus", {"janus": "create"})
        self.url = f"/janus/{created['data']['id']}"
        attached = await self._post(self.url, {"janus": "attach", "plugin": AUDIOBRIDGE})
        self.url += f"/{attached['data']['id']}"
        self._poll = asyncio.create_task(self._long_poll(self.url.rsplit("/", 1)[0]))

    async def request(self, body: dict[str, Any]) -> dict:
        """A synchronous plugin request: its plugin data."""
        data = await self._post(self.url, {"janus": "message", "body": body})
        return _plugin_data(data, body)

    async def message(self, body: dict[str, Any], jsep: dict | None = None) -> dict:
        """An asynchronous plugin request: the event that answers it (with its jsep)."""
        transaction = uuid.uuid4().hex
        message = {"janus": "message", "body": body, "transaction": transaction}
        if jsep is not None:
            message["jsep"] = jsep
        answered = self.events[transaction] = asyncio.get_running_loop().create_future()
        reply = await self.client.post(self.url, json=message, timeout=REQUEST_TIMEOUT)
        reply.raise_for_status()
        if reply.json().get("janus") != "ack":
            raise JanusError(f"{body}: {reply.text}")
        try:
            event = await asyncio.wait_for(answered, REQUEST_TIMEOUT)
        finally:
            self.events.pop(transaction, None)
        _plugin_data(event, body)
        return event

    async def _long_poll(self, session_url: str) -> None:
        while True:
            try:
                reply = await self.client.get(session_url, params={"maxev": 10},
                                              timeout=LONG_POLL_TIMEOUT)
                data = reply.json()
            except (httpx.TransportError, ValueError) as error:
                log(f"  long poll of {session_url}: {error!r}; polling again")
                await asyncio.sleep(1.0)  # a pause, so a dead server is not hammered
                continue
            if isinstance(data, dict) and data.get("janus") == "error":
                log(f"  long poll of {session_url} ends: {data.get('error')}")
                return
            for event in data if isinstance(data, list) else [data]:
                waiter = self.events.get(event.get("transaction", ""))
                if event.get("janus") == "event" and waiter is not None and not waiter.done():
                    waiter.set_result(event)
                elif event.get("janus") == "hangup":
                    self.hangups.append(event)

    async def close(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
        if self.url:
            try:
                await self._post(self.url.rsplit("/", 1)[0], {"janus": "destroy"})
            except (httpx.HTTPError, JanusError):
                pass  # Janus stops next anyway


def _plugin_data(data: dict, body: dict) -> dict:
    plugin = data.get("plugindata", {}).get("data", {})
    if "error_code" in plugin:
        raise JanusError(f"{body.get('request')}: {plugin['error_code']} {plugin.get('error')}")
    return plugin


# --- participants -------------------------------------------------------------------------


class Voice:
    """A SyntheticTrack sample source: a tone while `talking`, digital silence otherwise
    (still sent, like a muted-by-silence speaker); switchable without renegotiating."""

    def __init__(self, frequency: float) -> None:
        self.frequency = frequency
        self.talking = False
        self._tone = sine(frequency, TONE_AMPLITUDE)

    def __call__(self, start: int, count: int) -> np.ndarray:
        return self._tone(start, count) if self.talking else np.zeros(count, np.int16)


class Participant:
    """An aiortc peer connection in an AudioBridge room: sends its Voice, counts the
    audio it receives and keeps the last KEPT_FRAMES of it."""

    def __init__(self, client: httpx.AsyncClient, room: int, index: int) -> None:
        self.room, self.index = room, index
        self.voice = Voice(tone_frequency(index))
        self.session = Session(client)
        self.pc: RTCPeerConnection | None = None
        self.received_samples = 0
        self.recent: collections.deque[np.ndarray] = collections.deque(maxlen=KEPT_FRAMES)
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        self._reader: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return f"room {self.room} p{self.index}"

    async def join(self) -> None:
        """join, then configure with the SDP offer (the flow the plugin documents)."""
        await self.session.open()
        await self.session.message({"request": "join", "room": self.room,
                                    "display": f"p{self.index}", "muted": False})
        # No ICE servers: aiortc's default STUN server is outside the namespace.
        self.pc = pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver(SyntheticTrack(self.voice), direction="sendrecv")

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._reader = asyncio.create_task(self._read(track))

        await pc.setLocalDescription(await pc.createOffer())
        event = await self.session.message(
            {"request": "configure", "muted": False},
            jsep={"type": "offer", "sdp": pc.localDescription.sdp, "trickle": False},
        )
        if "jsep" not in event:
            raise JanusError(f"{self.name}: no SDP answer in {event}")
        answer = RTCSessionDescription(sdp=event["jsep"]["sdp"], type="answer")
        await pc.setRemoteDescription(answer)

    async def _read(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                for out in self._resampler.resample(frame):
                    pcm = out.to_ndarray().reshape(-1)
                    self.received_samples += pcm.shape[0]
                    self.recent.append(pcm)
        except MediaStreamError:
            pass

    def last_pcm(self, seconds: float) -> np.ndarray:
        pcm = np.concatenate(self.recent) if self.recent else np.zeros(0, np.int16)
        return pcm[-int(seconds * RATE):]

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self.pc is not None:
            await self.pc.close()
        await self.session.close()


async def wait_all_receive(participants: list[Participant], seconds: float, timeout: float) -> None:
    """Until every participant has received `seconds` more audio than now."""
    targets = [p.received_samples + int(seconds * RATE) for p in participants]
    end = time.monotonic() + timeout
    while True:
        behind = [p for p, t in zip(participants, targets) if p.received_samples < t]
        if not behind:
            return
        if time.monotonic() > end:
            names = ", ".join(p.name for p in behind)
            raise TimeoutError(f"no audio for {names} in {timeout:.0f} s")
        await asyncio.sleep(0.05)


def mixminus_problems(participants: list[Participant]) -> list[str]:
    """What is wrong with what each participant hears (empty: all as expected). A talker
    must hear another talker's tone, never its own; a silent one any talker's; a lone
    talker hears silence (not checked), and so does everyone when nobody talks."""
    problems = []
    for room in sorted({p.room for p in participants}):
        members = [p for p in participants if p.room == room]
        talkers = [p.voice.frequency for p in members if p.voice.talking]
        for p in members:
            expected = [f for f in talkers if f != p.voice.frequency or not p.voice.talking]
            if not expected:
                continue
            pcm = p.last_pcm(CHECK_SECONDS)
            heard = dominant_frequency(pcm, rate=RATE) if pcm.size else 0.0
            own = p.voice.talking and abs(heard - p.voice.frequency) <= FREQUENCY_TOLERANCE
            if own or min(abs(heard - f) for f in expected) > FREQUENCY_TOLERANCE:
                what = "its own tone" if own else "no expected tone"
                problems.append(f"{p.name} heard {heard:.0f} Hz ({what}; expected one of "
                                f"{', '.join(f'{f:.0f}' for f in expected)})")
    return problems


# --- the inner run --------------------------------------------------------------------------


async def measure_window(janus_pid: int, participants: list[Participant], label: str,
                         seconds: float) -> tuple[float, float, float]:
    """(janus %, load generator %, slowest participant's received seconds per second)."""
    received = [p.received_samples for p in participants]
    t0 = time.monotonic()
    janus0, self0 = cpu.process_seconds(janus_pid), cpu.process_seconds()
    # Sleep in steps so progress shows and a stuck loop is visible.
    steps = max(1, int(seconds // 5))
    for _ in range(steps):
        await asyncio.sleep(seconds / steps)
        elapsed = time.monotonic() - t0
        pct = 100 * (cpu.process_seconds(janus_pid) - janus0) / elapsed
        log(f"  {label}: {elapsed:4.1f}/{seconds:.0f} s, janus {pct:5.1f}% so far")
    elapsed = time.monotonic() - t0
    janus = cpu.process_seconds(janus_pid) - janus0
    loadgen = cpu.process_seconds() - self0
    rates = [(p.received_samples - r) / RATE / elapsed for p, r in zip(participants, received)]
    return 100 * janus / elapsed, 100 * loadgen / elapsed, min(rates) if rates else math.nan


async def run_inside(counts: list[int], talking: int | None, window: float, rooms: int,
                     all_talking_too: bool, folder: Path) -> list[Row]:
    deadline = Deadline(run_budget(counts, talking, window, rooms, all_talking_too))
    advertise_only([CLIENT_IP])  # aioice: only the participants' end of the veth pair
    janus = start_janus(folder)
    rows: list[Row] = []
    participants: list[Participant] = []
    control: Session | None = None
    failed = False
    # trust_env=False: no proxy from the environment for addresses in the namespace.
    api = httpx.AsyncClient(base_url=f"http://{JANUS_IP}:{JANUS_HTTP_PORT}", trust_env=False,
                            limits=httpx.Limits(max_connections=None))
    async with api as client:
        try:
            await wait_janus(client, janus, folder / "janus.log")
            control = Session(client)
            await control.open()
            room_ids = [FIRST_ROOM + r for r in range(rooms)]
            for room in room_ids:
                await control.request({"request": "create", "room": room, "sampling_rate": RATE,
                                       "audiolevel_ext": False, "record": False})
            log(f"{rooms} room(s) created at {RATE} Hz, nobody in them; measuring")
            janus_pct, loadgen_pct, _ = await measure_window(janus.pid, [], "empty", window)
            rows.append(Row(0, 0, rooms, janus_pct, loadgen_pct, math.nan, True, window))
            for count in counts:
                for index in range(len(participants) // rooms, count):
                    for room in room_ids:
                        deadline.check("joining participants")
                        participants.append(Participant(client, room, index))
                        await asyncio.wait_for(participants[-1].join(),
                                               min(deadline.left(), 2 * REQUEST_TIMEOUT))
                log(f"{count} participant(s) in each of {rooms} room(s) joined")
                for talkers in talking_modes(count, talking, all_talking_too):
                    rows.append(await measure_talking(janus.pid, participants, talkers, window,
                                                      deadline))
        except BaseException:
            states = [f"{p.name} {p.pc.connectionState if p.pc else 'no pc'}" for p in participants]
            log(f"failed; peer connections: {', '.join(states) or 'none'}")
            failed = True
            raise
        finally:
            await close_all(participants, control)
            stop_process(janus)
            text = (folder / "janus.log").read_text(errors="replace")
            if failed or janus.returncode not in (0, -signal.SIGTERM) or "[FATAL]" in text:
                print(f"WARNING: janus exit status {janus.returncode}; its log's tail:\n"
                      f"{text[-3000:]}", file=sys.stderr)
    return rows


async def measure_talking(janus_pid: int, participants: list[Participant], talkers: int,
                          window: float, deadline: Deadline) -> Row:
    """One row: the first `talkers` of each room talk, once everyone receives audio and
    after the warm-up."""
    count = max(p.index for p in participants) + 1
    rooms = len(participants) // count
    label = f"{count} participants, {talkers} talking"
    for p in participants:
        p.voice.talking = p.index < talkers
    await wait_all_receive(participants, FIRST_AUDIO, min(deadline.left(), REQUEST_TIMEOUT))
    log(f"{label}: all receive audio; warming up {WARM_UP:.0f} s")
    await asyncio.sleep(WARM_UP)
    deadline.check(f"measuring {label}")
    janus_pct, loadgen_pct, rate = await measure_window(janus_pid, participants, label, window)
    problems = mixminus_problems(participants)
    for problem in problems:
        log(f"  mix-minus: {problem}")
    hangups = sum(len(p.session.hangups) for p in participants)
    if hangups:
        log(f"  WARNING: Janus hung up {hangups} peer connection(s)")
    return Row(count, talkers, rooms, janus_pct, loadgen_pct, rate, not problems, window)


async def close_all(participants: list[Participant], control: Session | None) -> None:
    sessions = [p.close() for p in participants] + ([control.close()] if control else [])
    try:
        await asyncio.wait_for(asyncio.gather(*sessions, return_exceptions=True), CLOSE_TIMEOUT)
    except TimeoutError:
        log(f"  closing the participants took over {CLOSE_TIMEOUT:.0f} s; stopping Janus anyway")


def inside_main(args: argparse.Namespace) -> None:
    if CLIENT_IP not in {a.address for a in psutil.net_if_addrs().get(CLIENT_IF, [])}:
        sys.exit(f"--inside runs only in the namespace measure_janus() sets up (no {CLIENT_IF})")
    if not shutil.which(JANUS_BINARY):
        sys.exit(f"{JANUS_BINARY} is missing: apt-get install janus")
    with tempfile.TemporaryDirectory(prefix="janus-conf-") as tmp:
        rows = asyncio.run(run_inside(args.participants, args.talking, args.window, args.rooms,
                                      args.all_talking, Path(tmp)))
    Path(args.json).write_text(json.dumps({"rows": [asdict(r) for r in rows]}, indent=1))


# --- command line ----------------------------------------------------------------------------


def print_rows(rows: list[dict]) -> None:
    idle = rows[0]["janus_pct"] if rows and rows[0]["participants"] == 0 else math.nan
    print(f"\nJanus AudioBridge CPU ({rows[0]['window_s']:.0f} s windows after {WARM_UP:.0f} s "
          f"warm-up; {os.cpu_count()} cores; 100% = one core)" if rows else "\nno rows")
    table = []
    for r in rows:
        people = r["participants"] * r["rooms"]
        table.append([
            r["participants"], r["talking"], r["rooms"], r["janus_pct"],
            f"{(r['janus_pct'] - idle) / people:.2f}" if people else "-",
            r["loadgen_pct"],
            f"{r['mix_rate_min']:.2f}" if people else "-",
            ("yes" if r["mixminus_ok"] else "NO") if people else "-",
        ])
    print_table(["participants/room", "talking", "rooms", "janus %",
                 "per participant % (over empty)", "load generator %",
                 "received s/s (slowest)", "mix-minus ok"], table)


def parse_counts(text: str) -> list[int]:
    return sorted({int(c) for c in text.split(",") if c.strip()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=parse_counts, default=[1, 4, 13],
                        help="comma-separated participant counts per room (default 1,4,13)")
    parser.add_argument("--talking", type=int, default=None,
                        help="how many participants send tones, the others silence (default: all)")
    parser.add_argument("--all-talking", action="store_true",
                        help="also measure every count with all participants talking")
    parser.add_argument("--window", type=float, default=20.0,
                        help=f"seconds per measurement (max {MAX_WINDOW:.0f})")
    parser.add_argument("--rooms", type=int, default=1,
                        help="identical rooms, each with the participants")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.rooms = max(1, args.rooms)
    if args.inside:
        inside_main(args)
        return
    rows = measure_janus(args.participants, args.talking, args.window, args.rooms, args.all_talking)
    print_rows(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
