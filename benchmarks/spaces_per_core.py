"""Spaces per core: how many 4-speaker Spaces one core mixes in real time.

The `townhall serve` process is pinned to CPU 0 and this process (the load generator:
every speaker, an aiortc peer) to the other CPUs. Spaces are added one at a time, each
a host and 3 invited guests, `--talking` of them sending a tone and the rest digital
silence (a conversation: two people talk at once at most). After each Space: a warm-up,
then a window in which the server's CPU, its mixer's late ticks (from /metrics, all
Spaces) and every speaker's mix-minus rate (seconds received per second) are measured.
A count holds when no tick was late and every mix-minus ran at >= MIN_RATE; the run
stops at the first count that does not, at `--max-spaces`, or when the load generator
itself is saturated (its figure is then a floor, and it says so).

The node's admission is turned off for this (TOWNHALL_MIX_BUDGET very high): the point
is to find where mixing really breaks, which is what the admission budget is set from.

    .venv/bin/python -m benchmarks.spaces_per_core [--max-spaces 16] [--talking 2]
        [--window 10] [--janus]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av
import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from benchmarks._common import Deadline, log, print_table
from townhall import limits
from townhall.testing import cpu
from townhall.testing.servers import (CAPTIONS_OFF, MANY_SIGNUPS, invite_speaker, live_space,
                                      signed_in_client, stage, start_server, stop_server)
from townhall.media.opus import OpusStream
from townhall.media.webrtc.aiortc_tuning import decode_opus_in_mono, use_fast_audio_level
from townhall.tools.clients.whip import TIME_BASE, SyntheticTrack, WhipPublisher, sine

SPEAKERS_PER_SPACE = 4
WARM_UP = 4.0  # seconds after a Space's speakers connect, before its window
MIN_RATE = 0.98  # seconds of mix-minus per second a speaker must get (jitter aside: 1.00)
LOADGEN_SATURATED = 0.90  # of its cores: beyond, a shortfall may be the generator's
TIME_LIMIT = 900.0
MAX_SPACES = 40
TONE_AMPLITUDE = 0.05
KEEP_SECONDS = 1.0  # received audio kept per speaker (for the tone check), the rest counted


class OpusLoopTrack(SyntheticTrack):
    """A speaker whose second of sound is encoded once and then sent on a loop, so a
    load generator of dozens of speakers spends nothing on encoding (the server's work
    is the same: it decodes what arrives). Paced in real time like SyntheticTrack."""

    def __init__(self, frequency: float, amplitude: float) -> None:
        super().__init__(sine(frequency, amplitude))
        encoder, tone = OpusStream(), sine(frequency, amplitude)
        ticks = limits.SAMPLE_RATE // limits.TICK_SAMPLES
        self._packets = [encoder.encode(tone(n * limits.TICK_SAMPLES, limits.TICK_SAMPLES))
                         for n in range(ticks)]

    async def recv(self):  # type: ignore[no-untyped-def]
        frame = await super().recv()  # for its pacing and numbering (cheap: one tick of numpy)
        packet = av.Packet(self._packets[(frame.pts // limits.TICK_SAMPLES) % len(self._packets)])
        packet.pts, packet.time_base = frame.pts, TIME_BASE
        return packet

    def continued(self) -> OpusLoopTrack:
        raise NotImplementedError("the benchmark's speakers do not reconnect")


class CountingPublisher(WhipPublisher):
    """A speaker that counts what it receives and keeps only the last second, so
    dozens of them for minutes do not hold gigabytes."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.samples_received = 0

    @property
    def received_samples(self) -> int:
        return self.samples_received

    async def _read(self, track) -> None:  # type: ignore[no-untyped-def]
        from aiortc.mediastreams import MediaStreamError

        try:
            while True:
                frame = await track.recv()
                for out in self._resampler.resample(frame):
                    pcm = out.to_ndarray().reshape(-1)
                    self.samples_received += pcm.shape[0]
                    self.received.append(pcm)
                if len(self.received) > KEEP_SECONDS * limits.SAMPLE_RATE / limits.TICK_SAMPLES:
                    del self.received[0]
        except MediaStreamError:
            pass


@dataclass
class Step:
    spaces: int
    server_pct: float
    late_ticks: int
    slowest_rate: float
    loadgen_pct: float  # of the cores it may use
    holds: bool
    loadgen_saturated: bool


async def late_ticks(base_url: str) -> int:
    """Late mixer ticks of every Space so far (read without holding the speakers' loop)."""
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"{base_url}/metrics")).text
    return int(sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                   if s.name == "townhall_mixer_late_ticks_total"))


async def add_space(base_url: str, n: int, talking: int, deadline: Deadline) -> list[CountingPublisher]:
    host = signed_in_client(base_url, f"core{n}h")
    space = live_space(host, f"space {n}")["id"]
    users = [host]
    for g in range(SPEAKERS_PER_SPACE - 1):
        guest = signed_in_client(base_url, f"core{n}g{g}")
        invite_speaker(host, guest, space)
        users.append(guest)
    publishers = []
    for i, user in enumerate(users):
        creds = stage(user, space)
        track = OpusLoopTrack(300.0 + 70.0 * i, TONE_AMPLITUDE if i < talking else 0.0)
        publisher = CountingPublisher(creds["whip_url"], creds["token"], track)
        await publisher.start()
        publishers.append(publisher)
        user.close()
    for publisher in publishers:
        await publisher.wait_received(0.2, timeout=max(1.0, min(20.0, deadline.left())))
    return publishers


async def measure(server_pid: int, base_url: str, publishers: list[CountingPublisher],
                  spaces: int, window: float, loadgen_cores: int) -> Step:
    late0 = await late_ticks(base_url)
    got0 = [p.received_samples for p in publishers]
    server0, self0, t0 = cpu.process_seconds(server_pid), cpu.process_seconds(), time.monotonic()
    await asyncio.sleep(window)  # the measurement window itself
    elapsed = time.monotonic() - t0
    rates = [(p.received_samples - g) / limits.SAMPLE_RATE / elapsed for p, g in zip(publishers, got0)]
    late = await late_ticks(base_url) - late0
    loadgen = (cpu.process_seconds() - self0) / elapsed / loadgen_cores
    slowest = min(rates)
    return Step(spaces, 100 * (cpu.process_seconds(server_pid) - server0) / elapsed, late,
                slowest, 100 * loadgen, late == 0 and slowest >= MIN_RATE,
                loadgen >= LOADGEN_SATURATED)


async def run(server_pid: int, base_url: str, max_spaces: int, talking: int, window: float,
              loadgen_cores: int, deadline: Deadline) -> list[Step]:
    publishers: list[CountingPublisher] = []
    steps: list[Step] = []
    try:
        for n in range(1, max_spaces + 1):
            deadline.check(f"adding Space {n}")
            publishers += await add_space(base_url, n, talking, deadline)
            await asyncio.sleep(WARM_UP)  # let the new peers settle before measuring
            step = await measure(server_pid, base_url, publishers, n, window, loadgen_cores)
            steps.append(step)
            log(f"{n:2d} Spaces: server {step.server_pct:5.1f}% of a core, late ticks "
                f"{step.late_ticks}, slowest mix-minus {step.slowest_rate:.3f} s/s, load "
                f"generator {step.loadgen_pct:.0f}% of its cores: "
                f"{'holds' if step.holds else 'does NOT hold'}")
            if not step.holds or step.loadgen_saturated:
                break
    finally:
        await asyncio.gather(*(p.stop() for p in publishers), return_exceptions=True)
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-spaces", type=int, default=16, help=f"stop after this many (max {MAX_SPACES})")
    parser.add_argument("--talking", type=int, default=2, help="speakers talking in each Space (of 4)")
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured per count (max 60)")
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit("needs two CPUs: one for the server, one for the load generator")
    loadgen_cpus = set(cores[1:])
    os.sched_setaffinity(0, loadgen_cpus)
    # The load generator's own aiortc, made as cheap as the server's.
    use_fast_audio_level()
    decode_opus_in_mono()
    deadline = Deadline(TIME_LIMIT)
    env = {**MANY_SIGNUPS, **CAPTIONS_OFF, "TOWNHALL_MIX_BUDGET": "1000"}
    with tempfile.TemporaryDirectory(prefix="townhall-spaces-per-core-") as tmp:
        server = start_server(Path(tmp), "serve", extra_env=env)
        try:
            # Every thread it has (affinity is per thread); threads it makes later inherit.
            for thread in psutil.Process(server.process.pid).threads():
                os.sched_setaffinity(thread.id, {cores[0]})
            log(f"server pid {server.process.pid} pinned to CPU {cores[0]}; load generator on "
                f"CPU {sorted(loadgen_cpus)}")
            steps = asyncio.run(run(server.process.pid, server.base_url,
                                    max(1, min(args.max_spaces, MAX_SPACES)),
                                    max(0, min(args.talking, SPEAKERS_PER_SPACE)),
                                    max(2.0, min(args.window, 60.0)), len(loadgen_cpus), deadline))
        finally:
            stop_server(server)
    held = [s.spaces for s in steps if s.holds]
    print(f"\n{SPEAKERS_PER_SPACE}-speaker Spaces ({args.talking} talking) on one core "
          f"(server pinned to CPU {cores[0]})")
    print_table(["Spaces", "server % of one core", "late ticks", "slowest mix-minus s/s",
                 "load generator %", "holds"],
                [[s.spaces, s.server_pct, s.late_ticks, f"{s.slowest_rate:.3f}",
                  s.loadgen_pct, "yes" if s.holds else "no"] for s in steps])
    last = steps[-1] if steps else None
    if last is not None and last.loadgen_saturated and last.holds:
        print(f"Spaces per core: >= {max(held)} (the load generator was saturated first: a floor)")
    else:
        print(f"Spaces per core: {max(held) if held else 0}")


if __name__ == "__main__":
    main()
