"""CPU of one live Space: the server process with 0, 1, 4 and 13 speakers, 2 of them
talking and the rest connected and silent (a real conversation), optionally all 13
talking (the worst case), optionally beside Janus AudioBridge in the same run.

The server (`townhall serve`, a subprocess) is measured by its user + system CPU time
(all its threads, townhall.testing.cpu) over a fixed window after a warm-up, as % of one
core. The speakers are aiortc WHIP publishers, each a different tone, run in this
process (the load generator), so their own CPU is not counted; it is shown apart, with
the rest of the machine's CPU, to judge noise. 13 speakers = the host + 12 guests, each
invited through the API.

    .venv/bin/python -m benchmarks.space_cpu [--window 20] [--speakers 13] [--talking 2]
        [--all-talking] [--janus]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from dataclasses import dataclass

from benchmarks._common import (
    Deadline,
    invite_speaker,
    live_space,
    log,
    print_table,
    running_server,
    signed_in_client,
    stage,
)
from townhall import limits
from townhall.testing import cpu
from townhall.testing.servers import MANY_SIGNUPS
from townhall.tools.clients.whip import SampleSource, SyntheticTrack, WhipPublisher, sine

WARM_UP = 5.0  # seconds after the speakers connect before the window opens
TIME_LIMIT = 240.0
# Quiet enough that 13 tones sum without clipping (13 x 0.05 = 0.65 of full scale).
TONE_AMPLITUDE = 0.05


@dataclass(frozen=True)
class Config:
    speakers: int  # connected and sending
    talking: int  # of them, sending their tone (the rest send digital silence)


@dataclass
class Sample:
    speakers: int
    server_pct: float
    loadgen_pct: float
    other_pct: float  # everything else on the machine (tests others run, Chromium, ...)
    mix_minus_rate: float  # slowest speaker: seconds of mix-minus received per second
    talking: int = 0


async def measure_window(server_pid: int, publishers: list[WhipPublisher], seconds: float) -> Sample:
    received = [p.received_samples for p in publishers]
    t0 = time.monotonic()
    server0, self0, busy0 = cpu.process_seconds(server_pid), cpu.process_seconds(), cpu.machine_busy_seconds()
    # Sleep in steps so progress shows and a stuck loop is visible.
    steps = max(1, int(seconds // 5))
    for step in range(steps):
        await asyncio.sleep(seconds / steps)
        elapsed = time.monotonic() - t0
        pct = 100 * (cpu.process_seconds(server_pid) - server0) / elapsed
        log(f"  {len(publishers):2d} speakers: {elapsed:4.1f}/{seconds:.0f} s, server {pct:5.1f}% so far")
    elapsed = time.monotonic() - t0
    server = cpu.process_seconds(server_pid) - server0
    loadgen = cpu.process_seconds() - self0
    busy = cpu.machine_busy_seconds() - busy0
    rates = [(p.received_samples - r) / limits.SAMPLE_RATE / elapsed for p, r in zip(publishers, received)]
    return Sample(
        speakers=len(publishers),
        server_pct=100 * server / elapsed,
        loadgen_pct=100 * loadgen / elapsed,
        other_pct=100 * max(0.0, busy - server - loadgen) / elapsed,
        mix_minus_rate=min(rates) if rates else float("nan"),
    )


def voice(n: int, talking: bool) -> SampleSource:
    """Speaker n's sound: their own tone, or digital silence (connected, sending, quiet:
    most of a real stage at any moment)."""
    return sine(200.0 + 60.0 * n, TONE_AMPLITUDE if talking else 0.0)


async def connect(creds: dict, n: int, deadline: Deadline) -> WhipPublisher:
    publisher = WhipPublisher(creds["whip_url"], creds["token"], SyntheticTrack(voice(n, True)))
    await publisher.start()
    await publisher.wait_received(0.2, timeout=max(1.0, min(20.0, deadline.left())))
    return publisher


async def run(server_pid: int, base_url: str, configs: list[Config], window: float,
              deadline: Deadline) -> list[Sample]:
    """Each (speakers, talking) in turn, speakers connected as needed (never fewer)."""
    users = [signed_in_client(base_url, "cpuhost")]
    space = live_space(users[0], "space cpu")
    for _ in range(max(c.speakers for c in configs) - 1):
        guest = signed_in_client(base_url, "cpuguest")
        invite_speaker(users[0], guest, space["id"])
        users.append(guest)
    log(f"Space live; host + {len(users) - 1} invited guests")
    publishers: list[WhipPublisher] = []
    samples = []
    try:
        for config in configs:
            while len(publishers) < config.speakers:
                deadline.check("connecting speakers")
                n = len(publishers)
                publishers.append(await connect(stage(users[n], space["id"]), n, deadline))
            for n, publisher in enumerate(publishers):
                publisher.track.source = voice(n, n < config.talking)
            log(f"{config.speakers} speakers connected, {config.talking} talking; "
                f"warming up {WARM_UP:.0f} s")
            await asyncio.sleep(WARM_UP)
            deadline.check(f"measuring {config}")
            sample = await measure_window(server_pid, publishers, window)
            sample.talking = config.talking
            samples.append(sample)
    finally:
        await asyncio.gather(*(p.stop() for p in publishers), return_exceptions=True)
        for user in users:
            user.close()
    return samples


def configs_for(top: int, talking: int, all_talking: bool) -> list[Config]:
    """Idle, 1 talking, 4 and `top` with `talking` of them talking, then all talking."""
    configs = [Config(0, 0), Config(1, 1)]
    configs += [Config(n, min(n, talking)) for n in sorted({min(4, top), top}) if n > 1]
    if all_talking and top > talking:
        configs.append(Config(top, top))
    return configs


def janus_figures(configs: list[Config], talking: int, all_talking: bool,
                  window: float) -> dict[Config, float]:
    """Janus AudioBridge's % of a core for the same configurations, one run
    (benchmarks/janus_bridge.py; its rows say how many talked)."""
    from benchmarks.janus_bridge import measure_janus

    counts = sorted({c.speakers for c in configs if c.speakers})
    rows = measure_janus(counts, talking, window, all_talking_too=all_talking)
    return {Config(r["participants"], r["talking"]): r["janus_pct"] for r in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--window", type=float, default=20.0, help="seconds per measurement (max 60)")
    parser.add_argument("--speakers", type=int, default=limits.MAX_SPEAKERS,
                        help=f"largest speaker count (max {limits.MAX_SPEAKERS})")
    parser.add_argument("--talking", type=int, default=2,
                        help="speakers talking at a time at 4 and at --speakers (the rest silent)")
    parser.add_argument("--all-talking", action="store_true",
                        help="also measure --speakers with everyone talking (the worst case)")
    parser.add_argument("--janus", action="store_true",
                        help="measure Janus AudioBridge the same way in the same run, side by side")
    args = parser.parse_args()
    window = max(2.0, min(args.window, 60.0))
    top = max(1, min(args.speakers, limits.MAX_SPEAKERS))
    configs = configs_for(top, max(1, args.talking), args.all_talking)
    deadline = Deadline(TIME_LIMIT * (2 if args.all_talking else 1))
    # Its guests all sign up from this address (the shared test server's allowances).
    with running_server("serve", extra_env=MANY_SIGNUPS) as server:
        samples = asyncio.run(run(server.process.pid, server.base_url, configs, window, deadline))
    janus = janus_figures(configs, max(1, args.talking), args.all_talking, window) if args.janus else {}
    idle = samples[0].server_pct
    print(f"\nServer CPU of one live Space ({window:.0f} s windows after {WARM_UP:.0f} s warm-up; "
          f"{os.cpu_count()} cores; 100% = one core)")
    rows = []
    for s in samples:
        increment = f"{(s.server_pct - idle) / s.speakers:.1f}" if s.speakers else "-"
        row = [s.speakers, s.talking, s.server_pct, increment, s.loadgen_pct, s.other_pct,
               f"{s.mix_minus_rate:.2f}" if s.speakers else "-"]
        if janus:
            theirs = janus.get(Config(s.speakers, s.talking))
            row += [f"{theirs:.1f}" if theirs else "-",
                    f"{s.server_pct / theirs:.2f}x" if theirs else "-"]
        rows.append(row)
    print_table(["speakers", "talking", "server %", "per speaker % (over idle)", "load generator %",
                 "rest of machine %", "mix-minus s/s (slowest)"]
                + (["Janus AudioBridge %", "Townhall / Janus"] if janus else []), rows)


if __name__ == "__main__":
    main()
