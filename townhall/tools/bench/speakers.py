"""`townhall bench speakers`: K speakers on one Space, each publishing a tone over WHIP.

Signs in as the host (an existing account, in a session of its own), creates a Space and goes live, signs up K-1 speaker accounts with random
names and invites them, then every speaker publishes its own tone for S seconds.
Reported per speaker: seconds of mix-minus audio received back in the S seconds
(≈ S when the path keeps up), whether its own tone is absent from its mix-minus and
how many of the others' tones it hears; and from the Space's HLS, how many of the K
tones the program carries (decoded from ~3 s of parts). The Space is ended at the end.

Everything goes to BASE_URL as typed: the WHIP and HLS URLs are built from it, not
taken from the server's answers.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

import av
import httpx
import numpy as np

from townhall import limits
from townhall.tools.bench import MAX_DURATION, MAX_SPEAKERS
from townhall.tools.bench.common import (
    BenchError,
    Progress,
    bounded,
    check_url,
    grid,
    say,
    table,
)

RATE = limits.SAMPLE_RATE
# One tone per speaker, 130 Hz apart and none a multiple of another.
TONES = [350.0 + 130.0 * k for k in range(MAX_SPEAKERS)]  # 350 .. 1910 Hz
# Sign-up, invites, WHIP offers and the first mix-minus audio must all happen in this.
SETUP_TIMEOUT = 60.0
FIRST_AUDIO_TIMEOUT = 15.0
# Program audio decoded from the HLS to count tones.
HLS_CHECK_SECONDS = 3.0
# A tone is "present" when its band holds at least its share of the energy minus 10 dB,
# "absent" below -30 dB.
PRESENT_MARGIN_DB = 10.0
ABSENT_DB = -30.0
BAND_HZ = 15.0


def band_levels_db(pcm: np.ndarray, frequencies: Sequence[float]) -> list[float]:
    """Energy within BAND_HZ of each frequency, relative to the whole signal, in dB."""
    if pcm.size < RATE // 10:
        return [-math.inf for _ in frequencies]
    x = pcm.astype(np.float64) * np.hanning(pcm.shape[0])
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(pcm.shape[0], 1 / RATE)
    total = max(float(power.sum()), 1e-12)
    return [float(10 * np.log10(power[np.abs(freqs - f) <= BAND_HZ].sum() / total + 1e-12))
            for f in frequencies]


def present_threshold_db(tones: int) -> float:
    return -10 * math.log10(max(1, tones)) - PRESENT_MARGIN_DB


@dataclass
class SpeakerResult:
    name: str
    tone_hz: float
    connect_s: float | None = None
    received_s: float = 0.0
    own_tone_db: float | None = None
    others_heard: int | None = None
    error: str | None = None


class SpeakersRun:
    def __init__(self, base_url: str, count: int, duration: float, username: str,
                 password: str, host_addresses: Sequence[str] | None = ("127.0.0.1",),
                 progress: Progress = None) -> None:
        self.base = check_url(base_url).rstrip("/")
        bounded("--count", count, 1, MAX_SPEAKERS)
        bounded("--duration", duration, 1, MAX_DURATION)
        self.count, self.duration = count, duration
        self.username, self.password = username, password
        self.host_addresses = host_addresses
        self.progress = progress
        self.amplitude = min(0.3, 0.8 / count)  # the sum of all tones never clips

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, timeout=20, follow_redirects=False,
                                 trust_env=False)

    @staticmethod
    def _check(response: httpx.Response, what: str, expected: int = 200) -> dict:
        if response.status_code == 429:
            raise BenchError(
                f"{what}: rate-limited (429, Retry-After {response.headers.get('retry-after')}"
                " s); sign-ups and sign-ins are limited per client address: raise "
                "TOWNHALL_SIGNUP_BURST / TOWNHALL_SIGNIN_BURST on the server for the run")
        if response.status_code != expected:
            raise BenchError(f"{what}: {response.status_code} {response.text[:300]}")
        return response.json()

    async def _setup(self, host: httpx.AsyncClient, guests: list[httpx.AsyncClient]
                     ) -> tuple[str, list[tuple[str, str]]]:
        self._check(await host.post("/api/auth/signin", json={
            "username": self.username, "password": self.password}), "host sign-in")
        title = f"townhall bench: {self.count} speakers"
        space = self._check(await host.post("/api/spaces", json={"title": title}),
                            "create Space", 201)
        self.space_id = space["id"]
        self._check(await host.post(f"/api/spaces/{self.space_id}/live"), "go live")
        names = [self.username]
        for guest in guests:
            name = f"bench_{secrets.token_hex(6)}"
            self._check(await guest.post("/api/auth/signup", json={
                "username": name, "password": secrets.token_urlsafe(18)}), "speaker sign-up", 201)
            code = self._check(await host.post(f"/api/spaces/{self.space_id}/invites"),
                               "invite", 201)["code"]
            accepted = self._check(await guest.post(
                f"/api/spaces/{self.space_id}/invites/{code}/accept"), "accept invite")
            if accepted.get("your_role") != "speaker":
                raise BenchError(f"{name} is {accepted.get('your_role')!r}, not a speaker")
            names.append(name)
        tokens = []
        for client, name in zip([host, *guests], names):
            stage = self._check(await client.post(f"/api/spaces/{self.space_id}/stage"),
                                f"stage credentials for {name}")
            tokens.append((name, stage["token"]))
        return f"{self.base}/whip/{self.space_id}", tokens

    async def run(self) -> dict:
        from townhall.tools.clients.hls import HlsReader  # aiortc and PyAV load only here
        from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher, sine

        host = self._client()
        guests = [self._client() for _ in range(self.count - 1)]
        publishers: list[WhipPublisher] = []
        results: list[SpeakerResult] = []
        self.space_id: str | None = None
        program: dict = {}
        try:
            async with asyncio.timeout(SETUP_TIMEOUT):
                whip_url, tokens = await self._setup(host, guests)
                say(self.progress, f"Space {self.space_id} live with {self.count} speakers")
                for k, (name, token) in enumerate(tokens):
                    track = SyntheticTrack(sine(TONES[k], self.amplitude))
                    publishers.append(WhipPublisher(whip_url, token, track,
                                                    host_addresses=self.host_addresses))
                    results.append(SpeakerResult(name, TONES[k]))
                started = time.monotonic()
                await asyncio.gather(*(p.start() for p in publishers))
                await asyncio.gather(*(self._first_audio(p, r, started)
                                       for p, r in zip(publishers, results)))
            at_start = [p.received_samples for p in publishers]
            hls_url = f"{self.base}/hls/{self.space_id}/live.m3u8"
            hls = asyncio.create_task(self._program_tones(HlsReader, hls_url))
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            for second in range(1, math.ceil(self.duration) + 1):
                await asyncio.sleep(max(0.0, t0 + min(second, self.duration) - loop.time()))
                got = [(p.received_samples - a) / RATE for p, a in zip(publishers, at_start)]
                say(self.progress, f"[{min(second, self.duration):5.1f}s] mix-minus received "
                                   f"min {min(got):.1f} s, max {max(got):.1f} s")
            for p, r, a in zip(publishers, results, at_start):
                r.received_s = (p.received_samples - a) / RATE
                self._mix_minus_check(p, r)
            program = await hls
        finally:
            await asyncio.gather(*(p.stop() for p in publishers), return_exceptions=True)
            if self.space_id is not None:
                try:
                    await host.post(f"/api/spaces/{self.space_id}/end")
                except httpx.HTTPError:
                    pass
            await asyncio.gather(host.aclose(), *(g.aclose() for g in guests))
        return {
            "command": "speakers",
            "base_url": self.base,
            "space_id": self.space_id,
            "count": self.count,
            "duration_s": self.duration,
            "speakers": [r.__dict__ for r in results],
            "min_received_ratio": min(r.received_s for r in results) / self.duration,
            "program": program,
        }

    async def _first_audio(self, publisher, result: SpeakerResult, started: float) -> None:
        deadline = time.monotonic() + FIRST_AUDIO_TIMEOUT
        while publisher.received_samples == 0:
            if time.monotonic() > deadline:
                result.error = "no mix-minus audio"
                return
            await asyncio.sleep(0.02)
        result.connect_s = time.monotonic() - started

    def _mix_minus_check(self, publisher, result: SpeakerResult) -> None:
        if self.count < 2:
            return  # alone on stage: the mix-minus is silence
        pcm = publisher.received_pcm(min(2.0, self.duration))
        levels = band_levels_db(pcm, TONES[: self.count])
        own = TONES.index(result.tone_hz)
        result.own_tone_db = round(levels[own], 1)
        threshold = present_threshold_db(self.count - 1)
        result.others_heard = sum(1 for k, db in enumerate(levels) if k != own and db > threshold)

    async def _program_tones(self, reader_class, hls_url: str) -> dict:
        """Decode ~3 s of the Space's HLS and count the speakers' tones in it."""
        seconds = min(HLS_CHECK_SECONDS, max(1.0, self.duration - 1.0))
        await asyncio.sleep(max(0.0, min(1.0, self.duration - seconds)))
        try:
            async with httpx.AsyncClient(timeout=20, trust_env=False) as client:
                reader = reader_class(hls_url, client)
                await reader.start(parts_back=0)
                await reader.read_seconds(seconds, timeout=seconds + 10)
            pcm, _ = reader.decode()
        # Reported, not raised: this check is extra to the run.
        except (httpx.HTTPError, TimeoutError, ValueError, OSError, av.FFmpegError) as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
        pcm = pcm[-int(seconds * RATE):]
        levels = band_levels_db(pcm, TONES[: self.count])
        threshold = present_threshold_db(self.count)
        return {"decoded_s": round(pcm.size / RATE, 2),
                "tones_present": sum(1 for db in levels if db > threshold),
                "tone_levels_db": [round(db, 1) for db in levels]}


def summary_text(result: dict) -> str:
    rows = []
    for s in result["speakers"]:
        rows.append([
            s["name"], f"{s['tone_hz']:.0f}", s["connect_s"] if s["connect_s"] is not None
            else "-", s["received_s"], f"{s['received_s'] / result['duration_s']:.0%}",
            "-" if s["own_tone_db"] is None else s["own_tone_db"],
            "-" if s["others_heard"] is None else f"{s['others_heard']}/{result['count'] - 1}",
            s["error"] or "",
        ])
    text = grid(["speaker", "tone Hz", "connect s", "received s", "of run", "own tone dB",
                 "hears others", "error"], rows)
    program = result["program"]
    if "error" in program:
        line = f"HLS check failed: {program['error']}"
    else:
        line = (f"{program['tones_present']}/{result['count']} tones in "
                f"{program['decoded_s']:g} s of HLS")
    return text + "\n" + table([
        ("Space", result["space_id"]),
        ("duration", f"{result['duration_s']:g} s"),
        ("program (HLS)", line),
        ("own tone in mix-minus", f"absent if below {ABSENT_DB:g} dB"),
    ])
