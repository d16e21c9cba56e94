"""Captions: word error rate, caption delay, and what captions cost a Space.

1. WER on a fixed speech set: six espeak-ng sentences (clean, and with white noise at
   10 dB SNR) and the five LibriVox clips of Debian's pocketsphinx-testdata (recorded
   speech, with their transcripts). "Live" decodes each utterance as the live pipeline
   cuts it (utterances.py) greedily with the live model; "final" is the pass after the
   Space (beam 5). In this process, one thread (as the worker process runs).
2. On a real server (`townhall serve`): a speaker publishes the sentences over WHIP
   (each followed by 1.5 s of silence) twice, once with captions on and once off; an
   SSE client takes the `caption` events. Caption delay = arrival of a sentence's final
   caption at the client - the moment its last sample was sent (p50/p95). CPU of the
   server and its caption worker process over the speech (% of one core), and mixer
   lateness (late ticks, mean lateness) from /metrics, both ways.

    .venv/bin/python -m benchmarks.captions [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from benchmarks._common import log, print_table
from townhall.media.captions import engine
from townhall.media.captions.utterances import Final, UtteranceSegmenter, to_16k
from townhall.testing import cpu
from townhall.testing.servers import MANY_SIGNUPS, signed_in_client, stage, start_server, stop_server
from townhall.testing.speech import (RATE, SENTENCES, Utterance, add_noise, espeak,
                                     librivox_clips, wer, with_pauses)
from townhall.testing.sse import EventStream
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher

NOISY_SNR_DB = 10.0
TICK = 960


def _utterances(pcm: np.ndarray) -> list[np.ndarray]:
    """The live pipeline's utterances of one clip (as the mixer would feed them)."""
    segmenter, out = UtteranceSegmenter(), []
    padded = np.concatenate([np.zeros(RATE // 2, np.int16), pcm, np.zeros(RATE * 2, np.int16)])
    for i in range(0, len(padded) - TICK + 1, TICK):
        chunk = padded[i:i + TICK]
        level = float(np.sqrt(np.mean(np.square(chunk.astype(np.float32) / 32768.0))))
        out += [a.audio for a in segmenter.push(i / RATE, level, to_16k(chunk)) if isinstance(a, Final)]
    return out


def wer_table() -> list[list[object]]:
    recogniser = engine.Recogniser(engine.packaged_model())
    spoken = [Utterance(t, espeak(t)) for t in SENTENCES]
    sets = {"espeak-ng clean": spoken,
            f"espeak-ng noisy ({NOISY_SNR_DB:.0f} dB SNR)":
                [Utterance(u.text, add_noise(u.pcm, NOISY_SNR_DB)) for u in spoken],
            "LibriVox (recorded)": librivox_clips()}
    rows = []
    for name, clips in sets.items():
        if not clips:
            rows.append([name, 0, "-", "-", "-"])
            continue
        refs, live, final, cpu_used, audio = [], [], [], 0.0, 0.0
        for clip in clips:
            pieces = _utterances(clip.pcm)
            started = time.process_time()
            live.append(" ".join(recogniser.transcribe(p, engine.LIVE_BEAM) for p in pieces))
            cpu_used += time.process_time() - started
            final.append(" ".join(recogniser.transcribe(p, engine.FINAL_BEAM) for p in pieces))
            refs.append(clip.text)
            audio += len(clip.pcm) / RATE
        words = sum(len(r.split()) for r in refs)
        rows.append([name, words, 100 * _pooled(refs, live), 100 * _pooled(refs, final),
                     cpu_used / audio])
        log(f"{name}: live {live[:2]} final {final[:2]}")
    return rows


def _pooled(refs: list[str], hyps: list[str]) -> float:
    return sum(wer(r, h) * len(r.split()) for r, h in zip(refs, hyps)) / sum(len(r.split()) for r in refs)


class TimedStream(EventStream):
    """Every message with the wall-clock time it arrived (`_at`)."""

    async def _add(self, message: dict) -> None:  # type: ignore[override]
        message["_at"] = time.time()
        await super()._add(message)


def _track(pcm: np.ndarray) -> SyntheticTrack:
    def samples(start: int, count: int) -> np.ndarray:
        chunk = pcm[start:start + count]
        return np.pad(chunk, (0, count - len(chunk))) if len(chunk) < count else chunk
    return SyntheticTrack(samples)


def _metric(text: str, name: str) -> float:
    return sum(float(v) for v in re.findall(rf"^{name}{{[^}}]*}} ([0-9.e+-]+)$", text, re.M))


async def live_run(captions: bool, rounds: int) -> dict[str, object]:
    utterances = [Utterance(t, espeak(t)) for t in SENTENCES] * rounds
    pcm, spans = with_pauses(utterances)
    with tempfile.TemporaryDirectory(prefix="townhall-bench-") as tmp:
        server = start_server(Path(tmp), "serve", extra_env={
            **MANY_SIGNUPS, "TOWNHALL_CAPTIONS": "true" if captions else "false"})
        try:
            host = signed_in_client(server.base_url, "bench")
            space = host.post("/api/spaces", json={"title": "Captions benchmark"}).json()
            host.post(f"/api/spaces/{space['id']}/live")
            creds = stage(host, space["id"])
            track = _track(pcm)
            sent: dict[int, float] = {}
            track.on_frame = lambda sample, wall: sent.setdefault(sample, wall)
            publisher = WhipPublisher(creds["whip_url"], creds["token"], track)
            await asyncio.sleep(10 if captions else 2)  # the model loads in its process
            async with TimedStream(f"{server.base_url}/api/spaces/{space['id']}/events") as events:
                await publisher.start()
                pids = [server.process.pid, *cpu.child_pids(server.process.pid)]
                cpu0, t0 = cpu.processes_seconds(pids), time.monotonic()
                await asyncio.sleep(len(pcm) / RATE + 6)
                used = cpu.processes_seconds(pids) - cpu0
                window = time.monotonic() - t0
                await publisher.stop()
            metrics = httpx.get(f"{server.base_url}/metrics").text
        finally:
            stop_server(server)
    ticks = _metric(metrics, "townhall_mixer_ticks_total") or _metric(metrics, "townhall_mixer_ticks")
    late = _metric(metrics, "townhall_mixer_late_ticks_total") or _metric(metrics, "townhall_mixer_late_ticks")
    lateness = (_metric(metrics, "townhall_mixer_tick_lateness_seconds_total")
                or _metric(metrics, "townhall_mixer_tick_lateness_seconds"))
    delays = _delays(events.messages, spans, sent)
    return {"cpu_pct": 100 * used / window, "ticks": ticks, "late": late,
            "lateness_ms": 1000 * lateness / max(1, ticks), "delays": delays,
            "captions": len([m for m in events.of("caption") if m["final"]])}


def _delays(messages: list[dict], spans: list[tuple[float, float, str]],
            sent: dict[int, float]) -> list[float]:
    """For each sentence: its final caption's arrival - when its last sample was sent."""
    finals = [m for m in messages if m["type"] == "caption" and m["final"]]
    delays = []
    for start, end, text in spans:
        sample = int(end * RATE) // TICK * TICK
        if sample not in sent:
            continue
        # The sentences repeat: only captions that came after this one was spoken count.
        after = [m for m in finals if sent[sample] - 0.5 <= m["_at"] <= sent[sample] + 30]
        best = min(after, key=lambda m: (wer(text, m["text"]), m["_at"]), default=None)
        if best is not None and wer(text, best["text"]) < 0.5:
            delays.append(best["_at"] - sent[sample])
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="times the sentences are spoken live")
    args = parser.parse_args()
    log("WER on the fixed set")
    print_table(["set", "words", "live WER %", "final WER %", "live CPU-s per audio-s"], wer_table())
    runs = {}
    for on in (True, False):
        log(f"live Space, captions {'on' if on else 'off'}")
        runs[on] = asyncio.run(live_run(on, args.rounds))
    delays = runs[True]["delays"]
    print_table(["captions", "server+worker CPU % of a core", "mixer ticks", "late ticks",
                 "mean lateness ms", "captions", "delay p50 s", "delay p95 s"],
                [["on" if on else "off", r["cpu_pct"], r["ticks"], r["late"], r["lateness_ms"],
                  r["captions"],
                  statistics.median(r["delays"]) if r["delays"] else "-",
                  (sorted(r["delays"])[int(0.95 * (len(r["delays"]) - 1))] if r["delays"] else "-")]
                 for on, r in runs.items()])
    log(f"caption delays (s): {[round(d, 2) for d in delays]}")


if __name__ == "__main__":
    main()
