"""One captioned Space: each speaker's own audio from the mixer thread to a speech
recogniser in a worker process, and captions back to the event loop.

The mixer thread only ever calls `tap`, which hands the tick's per-speaker PCM to a
bounded queue without blocking (a full queue drops the tick and counts it): speech
recognition can never delay audio. A feeder thread (like aiortc's decoder_worker: a
queue in, call_soon_threadsafe out) downsamples to 16 kHz, cuts utterances by each
speaker's level (utterances.py) and sends decodes to the worker process one at a time,
finals before partials, newest partial only. It keeps the recogniser under `cpu_share`
of a core: after a decode of d seconds it waits d * (1/cpu_share - 1) before the next.
When it cannot keep up, partials are skipped and finals wait; a final older than
MAX_LAG is dropped and counted, and `on_status` says captions are behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from townhall import limits
from townhall.media.captions.engine import (FINAL_BEAM, LIVE_BEAM, ModelSource, ModelUnavailable,
                                            Recogniser)
from townhall.media.captions.utterances import Final, Partial, UtteranceSegmenter, to_16k

log = logging.getLogger(__name__)

TICK_SECONDS = limits.TICK_SAMPLES / limits.SAMPLE_RATE
# Ticks waiting for the feeder thread (5 s of audio); more are dropped, never waited for.
TAP_QUEUE_TICKS = 250
# A final caption not decoded within this long after its speech ended is dropped.
MAX_LAG = 12.0
# How long stop() waits for finals still being decoded.
DRAIN_SECONDS = 8.0
# The worker process runs at a lower priority than the mixer threads.
WORKER_NICENESS = 10


@dataclass(frozen=True)
class Caption:
    speaker: str  # the mixer's source key (a WHIP resource id)
    utterance: int
    start: float  # seconds of the audio timeline (sample / 48000 since the mixer began)
    end: float
    text: str
    final: bool
    delay: float  # seconds from the end of this audio being mixed to now
    audio: np.ndarray | None = None  # finals: the utterance at 16 kHz (for the final pass)


@dataclass
class _Job:
    speaker: str
    action: Partial
    mixed_at: float  # monotonic time the utterance's last tick was mixed


@dataclass
class CaptionStats:
    dropped_ticks: int = 0  # the feeder could not keep up with the mixer
    dropped_captions: int = 0  # finals too late to be worth showing
    skipped_partials: int = 0
    decodes: int = 0
    decode_seconds: float = 0.0  # the worker's CPU time decoding
    started_at: float = field(default_factory=time.monotonic)


def worker_main(source: ModelSource, jobs: Any, results: Any) -> None:
    """The worker process: load the model, then decode (job id, audio, beam) until None."""
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    try:
        recogniser = Recogniser(source)
    except (ModelUnavailable, Exception) as exc:  # noqa: BLE001 (any failure: say why)
        results.put(("error", str(exc)))
        return
    results.put(("ready", recogniser.name))
    while (job := jobs.get()) is not None:
        job_id, audio, beam = job
        wall, cpu = time.monotonic(), time.process_time()
        try:
            text = recogniser.transcribe(audio, beam)
        except Exception as exc:  # noqa: BLE001
            log.exception("decode failed")
            text = ""
            results.put(("error", f"decode failed: {exc}"))
        results.put(("done", job_id, text, time.process_time() - cpu, time.monotonic() - wall))


class RecogniserProcess:
    """A worker process with the model loaded; decodes one job at a time."""

    def __init__(self, source: ModelSource) -> None:
        context = multiprocessing.get_context("spawn")
        self.jobs: Any = context.Queue()
        self.results: Any = context.Queue()
        self.process = context.Process(target=worker_main, args=(source, self.jobs, self.results),
                                       name="townhall-captions", daemon=True)
        self.process.start()

    def transcribe(self, audio: np.ndarray, beam: int = FINAL_BEAM,
                   timeout: float = 120.0) -> tuple[str, float]:
        """Blocking: (text, CPU seconds). For the final pass (one caller at a time)."""
        self.jobs.put((0, audio, beam))
        while True:
            message = self.results.get(timeout=timeout)
            if message[0] == "done":
                return message[2], message[3]
            if message[0] == "error" and not self.process.is_alive():
                raise ModelUnavailable(message[1])

    def wait_ready(self, timeout: float = 120.0) -> str:
        message = self.results.get(timeout=timeout)
        if message[0] != "ready":
            raise ModelUnavailable(message[1])
        return str(message[1])

    def close(self, timeout: float = 5.0) -> None:
        with contextlib.suppress(Exception):
            self.jobs.put(None)
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.jobs.close()
        self.results.close()


class CaptionPipeline:
    def __init__(self, source: ModelSource, loop: asyncio.AbstractEventLoop,
                 on_caption: Callable[[Caption], None],
                 on_status: Callable[[dict[str, Any]], None] | None = None,
                 cpu_share: float = limits.CAPTIONS_CPU_SHARE, name: str = "captions") -> None:
        self._source = source
        self._loop = loop
        self._on_caption = on_caption
        self._on_status = on_status
        self.cpu_share = cpu_share
        self.stats = CaptionStats()
        self.model: str | None = None
        self.error: str | None = None
        self._ticks: queue.Queue[tuple[int, float, dict[str, np.ndarray]] | None] = \
            queue.Queue(TAP_QUEUE_TICKS)
        self._segmenters: dict[str, UtteranceSegmenter] = {}
        self._finals: list[_Job] = []
        self._partials: dict[str, _Job] = {}
        self._in_flight: tuple[int, _Job] | None = None
        self._next_job = 0
        self._not_before = 0.0
        self._behind = False
        self._stopping = False
        self._process: RecogniserProcess | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    # -- the mixer thread ---------------------------------------------------------------
    def tap(self, tick: int, inputs: Mapping[str, np.ndarray]) -> None:
        """Called by the mixer thread every tick: never blocks."""
        try:
            self._ticks.put_nowait((tick, time.monotonic(), dict(inputs)))
        except queue.Full:
            self.stats.dropped_ticks += 1

    # -- lifecycle (blocking: call from a thread) -----------------------------------------
    def start(self) -> None:
        self._process = RecogniserProcess(self._source)
        self._thread.start()

    def stop(self) -> None:
        """Close open utterances, wait a little for their captions, end the process."""
        self._ticks.put(None)
        self._thread.join()
        if self._process is not None:
            self._process.close()

    # -- the feeder thread ------------------------------------------------------------------
    def _run(self) -> None:
        assert self._process is not None
        try:
            self.model = self._process.wait_ready()
            log.info("captions running with %s", self.model)
        except (ModelUnavailable, queue.Empty) as exc:
            self.error = f"captions unavailable: {exc}"
            log.error(self.error)
            self._status()
            while self._ticks.get() is not None:
                pass
            return
        try:
            self._loop_until_stopped()
        except Exception:  # a bug here must not take the Space down
            log.exception("caption feeder crashed")
            self.error = "captions stopped after an error"
            self._status()

    def _loop_until_stopped(self) -> None:
        drain_until = None
        while True:
            if drain_until is None:
                try:
                    item = self._ticks.get(timeout=0.02)
                except queue.Empty:
                    item = ()  # type: ignore[assignment]
                if item is None:
                    self._stopping = True
                    for key, segmenter in self._segmenters.items():
                        self._queue_actions(key, segmenter.flush(), time.monotonic())
                    self._partials.clear()
                    drain_until = time.monotonic() + DRAIN_SECONDS
                elif item:
                    self._feed(*item)
            else:
                time.sleep(0.02)
                if time.monotonic() > drain_until or (not self._finals and not self._in_flight):
                    return
            self._collect()
            self._dispatch()

    def _feed(self, tick: int, mixed_at: float, inputs: dict[str, np.ndarray]) -> None:
        t = tick * TICK_SECONDS
        for key, pcm in inputs.items():
            segmenter = self._segmenters.setdefault(key, UtteranceSegmenter())
            level = float(np.sqrt(np.mean(np.square(pcm.astype(np.float32) / 32768.0))))
            self._queue_actions(key, segmenter.push(t, level, to_16k(pcm)), mixed_at)
        for key in [k for k in self._segmenters if k not in inputs]:
            # Left (or muted at the source): what they said so far is an utterance.
            self._queue_actions(key, self._segmenters.pop(key).flush(), mixed_at)

    def _queue_actions(self, key: str, actions: list[Partial], mixed_at: float) -> None:
        for action in actions:
            job = _Job(key, action, mixed_at)
            if isinstance(action, Final):
                self._partials.pop(key, None)
                self._finals.append(job)
            else:
                if key in self._partials:
                    self.stats.skipped_partials += 1
                self._partials[key] = job

    def _dispatch(self) -> None:
        assert self._process is not None
        now = time.monotonic()
        if self._in_flight is not None or now < self._not_before:
            return
        while self._finals and now - self._finals[0].mixed_at > MAX_LAG:
            self._finals.pop(0)
            self.stats.dropped_captions += 1
            self._set_behind(True)
        if self._finals:
            job, beam = self._finals.pop(0), LIVE_BEAM
        elif self._partials:
            key = min(self._partials, key=lambda k: self._partials[k].mixed_at)
            job, beam = self._partials.pop(key), LIVE_BEAM
        else:
            return
        self._next_job += 1
        self._in_flight = (self._next_job, job)
        self._process.jobs.put((self._next_job, job.action.audio, beam))

    def _collect(self) -> None:
        assert self._process is not None
        while True:
            try:
                message = self._process.results.get_nowait()
            except queue.Empty:
                return
            if message[0] == "error":
                log.warning("captions: %s", message[1])
                continue
            _, job_id, text, cpu, wall = message
            if self._in_flight is None or self._in_flight[0] != job_id:
                continue
            job = self._in_flight[1]
            self._in_flight = None
            self.stats.decodes += 1
            self.stats.decode_seconds += cpu
            # Keep the recogniser within its share of a core (see the module's doc).
            self._not_before = time.monotonic() + wall * (1 / self.cpu_share - 1)
            final = isinstance(job.action, Final)
            if final and self._behind and not self._finals:
                self._set_behind(False)
            if not text and not final:
                continue
            caption = Caption(job.speaker, job.action.utterance, job.action.start,
                              job.action.end, text, final, time.monotonic() - job.mixed_at,
                              job.action.audio if final else None)
            self._to_loop(self._on_caption, caption)

    def _set_behind(self, behind: bool) -> None:
        if behind != self._behind:
            self._behind = behind
            self._status()

    def status(self) -> dict[str, Any]:
        return {"running": self.model is not None and self.error is None,
                "behind": self._behind, "error": self.error,
                "dropped": self.stats.dropped_captions + self.stats.dropped_ticks}

    def _status(self) -> None:
        if self._on_status is not None:
            self._to_loop(self._on_status, self.status())

    def _to_loop(self, callback: Callable[[Any], None], value: Any) -> None:
        if not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(callback, value)
