"""Soak: a Space live for a long time while speakers join and leave and listeners come
and go; the origin must not grow (memory, file descriptors, threads), nor Redis, nor
the mixer's lateness, and the recording must be whole at the end.

    .venv/bin/python -m benchmarks.soak --minutes 30          # the soak (RELIABILITY.md)
    .venv/bin/python -m benchmarks.soak --minutes 1 --check   # the short one in the suite

Real parts, on loopback only: Redis and PostgreSQL started here, one `townhall serve`
origin in cluster mode (so Redis holds the live stream, the audience and the leases),
the host speaking 440 Hz over WHIP (aiortc) all along, up to 3 guests taking turns on
stage, up to 6 listeners each following the live HLS for a while. Every loop is bounded
by the deadline. Samples every 5 s; the slope of each figure is a least-squares line over
the samples after the first fifth (warm-up). Writes OUT.json and OUT.svg (the figures
over time; --out, default test-artifacts/soak). With --check, exits 1 when a bound
below is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import m3u8
import numpy as np
import psutil
import redis

from benchmarks._common import log
from townhall.testing.servers import (MANY_SIGNUPS, invite_speaker, live_space, signed_in_client,
                                      stage, start_server, stop_server)
from townhall.testing.services import postgres_service, redis_service
from townhall.tools.clients.hls import HlsReader
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher, sine

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SAMPLE_EVERY = 5.0
GUESTS = 3
MAX_LISTENERS = 6
LISTEN_SECONDS = (5.0, 20.0)  # how long one listener stays
CHURN_EVERY = 4.0  # a guest joins or leaves the stage this often
# --check bounds. Descriptors and threads: back near where they were once everyone has
# left (a leak per join or leave would add one per turn); late mixer ticks: a small
# share; memory: the slope, which a leak of even a few KB per turn makes positive and
# steady (the short run cannot tell small growth from warm-up, so it is printed, and
# bounded only for runs of 10 minutes or more).
MAX_EXTRA_FDS = 8
MAX_EXTRA_THREADS = 4
MAX_LATE_TICK_SHARE = 0.05
MAX_RSS_SLOPE_MB_PER_MIN = 1.0
MAX_REDIS_SLOPE_MB_PER_MIN = 0.5


@dataclass
class Sample:
    t: float
    rss_mb: float
    fds: int
    threads: int
    redis_mb: float
    ticks: int
    late_ticks: int
    speakers: int
    listeners: int


@dataclass
class Soak:
    samples: list[Sample] = field(default_factory=list)
    joins: int = 0
    leaves: int = 0
    listener_sessions: int = 0
    listener_errors: int = 0


def metric(text: str, name: str) -> int:
    return int(sum(float(v) for v in re.findall(rf"^{name}\{{[^}}]*\}} ([0-9.e+]+)$", text, re.M)))


def slope_per_minute(samples: list[Sample], key: str) -> float:
    kept = samples[len(samples) // 5:]
    if len(kept) < 3:
        return 0.0
    t = np.array([s.t for s in kept]) / 60
    y = np.array([getattr(s, key) for s in kept], dtype=float)
    return float(np.polyfit(t, y, 1)[0])


async def listen(url: str, seconds: float, soak: Soak) -> None:
    async with httpx.AsyncClient() as client:
        reader = HlsReader(url, client)
        try:
            await reader.start(parts_back=0)
            await asyncio.wait_for(reader.read_seconds(seconds, timeout=seconds + 10), seconds + 12)
        except (httpx.HTTPError, TimeoutError):
            soak.listener_errors += 1
    soak.listener_sessions += 1


async def run(minutes: float, seed: int) -> dict:
    rng = random.Random(seed)
    soak = Soak()
    with redis_service() as redis_box, postgres_service() as postgres, \
            tempfile.TemporaryDirectory(prefix="townhall-soak-") as tmp:
        env = {**MANY_SIGNUPS, "TOWNHALL_REDIS_URL": redis_box.url,
               "TOWNHALL_DATABASE_URL": postgres.url, "TOWNHALL_LOG_LEVEL": "warning"}
        server = start_server(Path(tmp), command="serve", extra_env=env)
        origin = psutil.Process(server.process.pid)
        redis_client = redis.Redis.from_url(redis_box.url)
        try:
            host = signed_in_client(server.base_url, "soakhost")
            space = live_space(host, "Soak")
            guests = [signed_in_client(server.base_url, f"soakguest{i}") for i in range(GUESTS)]
            for guest in guests:
                invite_speaker(host, guest, space["id"])
            creds = stage(host, space["id"])
            host_voice = WhipPublisher(creds["whip_url"], creds["token"], SyntheticTrack(sine(440)))
            await host_voice.start()
            on_stage: dict[int, WhipPublisher] = {}
            listeners: set[asyncio.Task[None]] = set()
            started = time.monotonic()
            deadline = started + minutes * 60
            next_sample = next_churn = started

            def sample() -> None:
                text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
                soak.samples.append(Sample(
                    t=time.monotonic() - started, rss_mb=origin.memory_info().rss / 2**20,
                    fds=origin.num_fds(), threads=origin.num_threads(),
                    redis_mb=redis_client.info("memory")["used_memory"] / 2**20,
                    ticks=metric(text, "townhall_mixer_ticks_total"),
                    late_ticks=metric(text, "townhall_mixer_late_ticks_total"),
                    speakers=1 + len(on_stage), listeners=len(listeners)))
                last = soak.samples[-1]
                log(f"t={last.t:5.0f}s rss={last.rss_mb:6.1f} MB fds={last.fds} "
                    f"threads={last.threads} redis={last.redis_mb:5.2f} MB "
                    f"speakers={last.speakers} listeners={last.listeners}")

            while time.monotonic() < deadline:
                now = time.monotonic()
                if now >= next_sample:
                    await asyncio.to_thread(sample)
                    next_sample += SAMPLE_EVERY
                if now >= next_churn:
                    next_churn += CHURN_EVERY
                    index = rng.randrange(GUESTS)
                    if index in on_stage:
                        await on_stage.pop(index).stop()
                        soak.leaves += 1
                    else:
                        token = await asyncio.to_thread(stage, guests[index], space["id"])
                        voice = WhipPublisher(token["whip_url"], token["token"],
                                              SyntheticTrack(sine(660 + 110 * index)))
                        await voice.start()
                        on_stage[index] = voice
                        soak.joins += 1
                listeners = {t for t in listeners if not t.done()}
                while len(listeners) < MAX_LISTENERS and rng.random() < 0.5:
                    seconds = rng.uniform(*LISTEN_SECONDS)
                    listeners.add(asyncio.create_task(listen(space["hls_url"], seconds, soak)))
                await asyncio.sleep(0.5)  # the soak's own pace between steps

            for voice in on_stage.values():
                await voice.stop()
            on_stage.clear()
            for task in listeners:
                task.cancel()
            await asyncio.gather(*listeners, return_exceptions=True)
            listeners = set()
            # Everyone but the host has left: settle, then one last sample.
            await asyncio.sleep(SAMPLE_EVERY)  # connections close and threads go idle
            await asyncio.to_thread(sample)
            await host_voice.stop()
            ended = host.post(f"/api/spaces/{space['id']}/end").json()
            on_air = (datetime_seconds(ended["ended_at"]) - datetime_seconds(ended["started_at"]))
            recording = check_recording(ended["replay_url"], on_air)
        finally:
            stop_server(server)
    return summarise(soak, minutes, recording)


def datetime_seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def check_recording(replay_url: str, on_air: float) -> dict:
    playlist = m3u8.loads(httpx.get(replay_url, timeout=20).text)
    numbers = [int(Path(s.uri).stem.removeprefix("seg")) for s in playlist.segments]
    missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers)) if numbers else []
    return {"segments": len(numbers), "missing": missing,
            "recorded_s": round(sum(s.duration for s in playlist.segments), 1),
            "on_air_s": round(on_air, 1),
            "discontinuities": sum(1 for s in playlist.segments if s.discontinuity)}


def summarise(soak: Soak, minutes: float, recording: dict) -> dict:
    samples = soak.samples
    warm = samples[len(samples) // 5] if samples else None
    last = samples[-1]
    ticks = last.ticks - (warm.ticks if warm else 0)
    late = last.late_ticks - (warm.late_ticks if warm else 0)
    return {
        "minutes": minutes, "samples": len(samples), "joins": soak.joins, "leaves": soak.leaves,
        "listener_sessions": soak.listener_sessions, "listener_errors": soak.listener_errors,
        "rss_mb": {"warm": round(warm.rss_mb, 1), "end": round(last.rss_mb, 1),
                   "slope_per_min": round(slope_per_minute(samples, "rss_mb"), 3)},
        "redis_mb": {"warm": round(warm.redis_mb, 2), "end": round(last.redis_mb, 2),
                     "slope_per_min": round(slope_per_minute(samples, "redis_mb"), 4)},
        "fds": {"warm": warm.fds, "max": max(s.fds for s in samples), "end": last.fds,
                "slope_per_min": round(slope_per_minute(samples, "fds"), 3)},
        "threads": {"warm": warm.threads, "max": max(s.threads for s in samples),
                    "end": last.threads},
        "late_tick_share": round(late / ticks, 4) if ticks else None,
        "recording": recording,
        "series": [asdict(s) for s in samples],
    }


def problems(result: dict) -> list[str]:
    found = []
    if result["fds"]["end"] > result["fds"]["warm"] + MAX_EXTRA_FDS:
        found.append(f"file descriptors grew: {result['fds']}")
    if result["threads"]["end"] > result["threads"]["warm"] + MAX_EXTRA_THREADS:
        found.append(f"threads grew: {result['threads']}")
    share = result["late_tick_share"]
    if share is None or share > MAX_LATE_TICK_SHARE:
        found.append(f"late mixer ticks: {share}")
    rec = result["recording"]
    if rec["missing"] or rec["discontinuities"] or rec["recorded_s"] < rec["on_air_s"] - 2.5:
        found.append(f"recording not whole: {rec}")
    if result["listener_errors"]:
        found.append(f"{result['listener_errors']} listener sessions failed")
    if result["minutes"] >= 10:
        if result["rss_mb"]["slope_per_min"] > MAX_RSS_SLOPE_MB_PER_MIN:
            found.append(f"origin memory grows: {result['rss_mb']}")
        if result["redis_mb"]["slope_per_min"] > MAX_REDIS_SLOPE_MB_PER_MIN:
            found.append(f"Redis memory grows: {result['redis_mb']}")
    return found


def plot(result: dict, path: Path) -> None:
    """Four small panels (origin memory, descriptors, threads, Redis memory) over time."""
    series = result["series"]
    panels = [("rss_mb", "origin memory (MB)"), ("fds", "file descriptors"),
              ("threads", "threads"), ("redis_mb", "Redis memory (MB)")]
    width, height, pad = 460, 180, 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * width}" '
             f'height="{2 * height}" font-family="sans-serif" font-size="12">',
             '<rect width="100%" height="100%" fill="white"/>']
    t_max = max(s["t"] for s in series) or 1
    for i, (key, title) in enumerate(panels):
        x0, y0 = (i % 2) * width, (i // 2) * height
        values = [s[key] for s in series]
        lo, hi = min(values), max(values)
        hi = hi if hi > lo else lo + 1
        points = " ".join(
            f"{x0 + pad + s['t'] / t_max * (width - 2 * pad):.1f},"
            f"{y0 + height - pad - (s[key] - lo) / (hi - lo) * (height - 2 * pad):.1f}"
            for s in series)
        parts += [f'<text x="{x0 + pad}" y="{y0 + 20}">{title}: {lo:.1f} to {hi:.1f} over '
                  f'{t_max / 60:.1f} min</text>',
                  f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{points}"/>',
                  f'<line x1="{x0 + pad}" y1="{y0 + height - pad}" x2="{x0 + width - pad}" '
                  f'y2="{y0 + height - pad}" stroke="#999"/>']
    parts.append("</svg>")
    path.write_text("\n".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--check", action="store_true", help="exit 1 when a bound is broken")
    parser.add_argument("--out", type=Path, default=ARTIFACTS / "soak",
                        help="where OUT.json and OUT.svg go (default test-artifacts/soak)")
    args = parser.parse_args()
    result = asyncio.run(run(args.minutes, args.seed))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    with contextlib.suppress(ValueError, ZeroDivisionError):
        plot(result, args.out.with_suffix(".svg"))
    shown = {k: v for k, v in result.items() if k != "series"}
    print(json.dumps(shown, indent=2))
    found = problems(result)
    for problem in found:
        print(f"PROBLEM: {problem}")
    if args.check and found:
        sys.exit(1)


if __name__ == "__main__":
    main()
