"""The per-Space media thread: a 20 ms clock that mixes, then encodes the program.

CPU work stays off the event loop (like aiortc's decoder_worker): sources are pulled
here, results go back to the loop with call_soon_threadsafe.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from townhall import limits
from townhall.media.encoder import AacPartEncoder, EncodedPart
from townhall.media.mixer import levels, mix
from townhall.media.opus import MixMinusEncoders

log = logging.getLogger(__name__)

TICK_SECONDS = limits.TICK_SAMPLES / limits.SAMPLE_RATE
# If the thread falls this far behind (machine suspended, debugger), restart the clock
# instead of mixing a burst of catch-up ticks all at once.
MAX_CATCH_UP_SECONDS = 1.0


class Source(Protocol):
    def pull(self) -> np.ndarray | None: ...


class MixerWorker:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_mix_minus: Callable[[dict[str, bytes]], None],
        on_parts: Callable[[list[EncodedPart]], None],
        name: str = "mixer",
    ) -> None:
        self._loop = loop
        self._on_mix_minus = on_mix_minus
        self._on_parts = on_parts
        # Replaced whole (never mutated) so the thread reads a consistent snapshot.
        self.sources: dict[str, Source] = {}
        self.listeners: frozenset[str] = frozenset()  # sources that get a mix-minus
        self.encoder = AacPartEncoder()
        self.mix_minus_encoders = MixMinusEncoders()  # speakers' Opus, made here
        self.levels: dict[str, float] = {}
        self.ticks = 0
        self.late_ticks = 0
        self.clock_resets = 0
        self.lateness_seconds_total = 0.0  # how late ticks ran, summed (for metrics)
        # Wall-clock time the mixer skipped after falling far behind (see _run); the
        # program-date-time of a sample is its timeline time plus this.
        self.skipped_seconds = 0.0
        self.encode_seconds_total = 0.0
        # Live captions: called every tick with (tick number, each source's own PCM).
        # It must never block (townhall/media/captions/pipeline.py: a bounded queue).
        self.tap: Callable[[int, dict[str, np.ndarray]], None] | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()  # the clock sleeps on it: stop() or a new source
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def add_source(self, key: str, source: Source, wants_mix_minus: bool) -> None:
        self.sources = {**self.sources, key: source}
        if wants_mix_minus:
            self.listeners = self.listeners | {key}
        self._wake.set()  # an idle clock asleep until its part's end ticks again

    def remove_source(self, key: str) -> None:
        self.sources = {k: v for k, v in self.sources.items() if k != key}
        self.listeners = self.listeners - {key}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the clock, flush the encoder (blocking: call from a thread)."""
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        start = time.monotonic()
        n = 0
        try:
            while not self._stop.is_set():
                # Nobody on stage: what the ticks before a part's last one make is
                # heard only once that part is out, so the clock sleeps until then and
                # runs them together (one wake-up a part instead of ~15).
                ahead = self.encoder.ticks_until_part() - 1 if not self.sources else 0
                delay = start + (n + ahead) * TICK_SECONDS - time.monotonic()
                if delay > 0:
                    if self._wake.wait(delay):  # stopped, or someone came on stage
                        self._wake.clear()
                        n = self._run_due_ticks(start, n)
                        continue
                elif -delay > MAX_CATCH_UP_SECONDS:
                    self.clock_resets += 1
                    start, n = time.monotonic() - ahead * TICK_SECONDS, 0
                    # The audio timeline skips nothing, so from here on a sample plays
                    # `-delay` seconds later than the timeline says.
                    self.skipped_seconds += -delay
                elif -delay > TICK_SECONDS:
                    self.late_ticks += 1
                self.lateness_seconds_total += max(0.0, -delay)
                for _ in range(ahead + 1):
                    self._tick()
                n += ahead + 1
        except Exception:  # a bug here must not kill the Space silently
            log.exception("mixer thread crashed")
        finally:
            self._emit_parts(self.encoder.close())

    def _run_due_ticks(self, start: float, n: int) -> int:
        """An idle clock woken early runs the ticks whose time has come (not late: it
        chose to wait) and goes on a tick at a time from there."""
        now = time.monotonic()
        while not self._stop.is_set() and start + n * TICK_SECONDS <= now:
            self._tick()
            n += 1
        return n

    def _tick(self) -> None:
        inputs = {}
        for key, source in self.sources.items():
            pcm = source.pull()
            if pcm is not None:
                inputs[key] = pcm
        program, minus = mix(inputs, limits.TICK_SAMPLES)
        self.levels = levels(inputs)
        tap = self.tap
        if tap is not None:
            try:
                tap(self.ticks, inputs)
            except Exception:  # captions must never stop the audio
                log.exception("caption tap failed")
        self.ticks += 1
        listeners = self.listeners
        if listeners:
            out = self.mix_minus_encoders.encode(listeners, self.levels, program, minus)
            self._loop.call_soon_threadsafe(self._on_mix_minus, out)
        started = time.perf_counter()
        # Nobody to mix (a waiting room, a Space whose speakers are all away): its
        # silence may be encoded a part at a time (townhall/media/encoder.py).
        parts = self.encoder.encode(program, hold=not inputs and not self.sources)
        self.encode_seconds_total += time.perf_counter() - started
        self._emit_parts(parts)

    def _emit_parts(self, parts: list[EncodedPart]) -> None:
        if parts and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._on_parts, parts)

