"""The caption pipeline when it cannot keep up (townhall/media/captions/pipeline.py),
with the real packaged model in its worker process and known espeak-ng speech:

- the mixer's hand-off never waits: with nobody reading, every tick past the queue's
  bound is dropped and counted, and `tap` returns at once each time;
- a recogniser held to a small share of a core falls behind: finals older than MAX_LAG
  (shortened here) are dropped and counted, `on_status` says `behind`, and a later
  caption still arrives (and clears it)."""

from __future__ import annotations

import asyncio
import shutil

import numpy as np
import pytest

from townhall import limits
from townhall.media.captions import pipeline
from townhall.media.captions.engine import packaged_model
from townhall.testing.speech import SENTENCES, Utterance, espeak, with_pauses
from townhall.testing.waiting import wait_until_async

if shutil.which("espeak-ng") is None:  # never a silent skip: make setup installs it
    pytest.fail("espeak-ng is missing: run `make setup`", pytrace=False)

TICK = limits.TICK_SAMPLES


def ticks(pcm: np.ndarray) -> list[np.ndarray]:
    return [pcm[i:i + TICK] for i in range(0, len(pcm) - TICK + 1, TICK)]


async def test_the_tap_never_waits_and_counts_what_it_drops() -> None:
    captions = pipeline.CaptionPipeline(packaged_model(), asyncio.get_running_loop(),
                                        on_caption=lambda c: None)
    silence = np.zeros(TICK, np.int16)
    extra = 40
    for tick in range(pipeline.TAP_QUEUE_TICKS + extra):  # the feeder was never started
        captions.tap(tick, {"1": silence})
    assert captions.stats.dropped_ticks == extra


async def test_a_recogniser_that_falls_behind_drops_late_finals_and_says_so(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "MAX_LAG", 1.0)
    statuses: list[dict] = []
    captions_seen: list[pipeline.Caption] = []
    loop = asyncio.get_running_loop()
    # A tenth of a core: after each decode the feeder waits nine times as long.
    captions = pipeline.CaptionPipeline(packaged_model(), loop, captions_seen.append,
                                        statuses.append, cpu_share=0.1)
    pcm, _ = with_pauses([Utterance(t, espeak(t)) for t in SENTENCES[:3]], pause=1.0)
    await loop.run_in_executor(None, captions.start)
    try:
        # Three sentences handed over at about four times real time: their finals queue
        # up behind the first decode and its enforced rest.
        for n, chunk in enumerate(ticks(pcm)):
            captions.tap(n, {"7": chunk})
            if n % 4 == 0:
                await asyncio.sleep(pipeline.TICK_SECONDS)
        await wait_until_async(lambda: captions.stats.dropped_captions > 0,
                               "a late final dropped", timeout=90)
        await wait_until_async(lambda: any(s["behind"] for s in statuses),
                               "on_status saying captions are behind", timeout=10)
        assert captions.status()["dropped"] >= captions.stats.dropped_captions > 0
        # Given its whole core back, later speech is captioned and captions are no
        # longer behind.
        captions.cpu_share = 1.0
        seen_before = len(captions_seen)
        monkeypatch.setattr(pipeline, "MAX_LAG", 30.0)
        later = espeak(SENTENCES[4])
        start = len(ticks(pcm))
        for n, chunk in enumerate(ticks(np.concatenate([later, np.zeros(48_000 * 2, np.int16)]))):
            captions.tap(start + n, {"7": chunk})
            await asyncio.sleep(pipeline.TICK_SECONDS)
        await wait_until_async(lambda: any(c.final and c.text for c in captions_seen[seen_before:]),
                               "a final caption after falling behind", timeout=90)
        await wait_until_async(lambda: statuses and not statuses[-1]["behind"],
                               "captions caught up again", timeout=90)
    finally:
        await loop.run_in_executor(None, captions.stop)
