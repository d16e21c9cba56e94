"""The event-loop lag monitor measures for real: a coroutine that holds the loop with a
blocking call is seen (and logged) as that much lag; a quiet loop stays under the stall
threshold. /metrics carries the figures."""

from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from townhall.app.looplag import LAG_INTERVAL, RECENT_WINDOW, STALL_THRESHOLD, LoopLag
from townhall.app.metrics import Metrics
from townhall.domain.capacity import MixLoad

BLOCK_SECONDS = 0.3


async def _hog_the_loop() -> None:
    time.sleep(BLOCK_SECONDS)  # noqa: ASYNC251 (the mistake the monitor is there to catch)


async def test_a_blocking_call_in_a_coroutine_is_seen_as_lag(
    caplog: pytest.LogCaptureFixture,
) -> None:
    monitor = LoopLag()
    monitor.start()
    try:
        await asyncio.sleep(2 * LAG_INTERVAL)  # the monitor is asleep on its timer
        with caplog.at_level(logging.WARNING, logger="townhall.app.looplag"):
            await asyncio.create_task(_hog_the_loop())
            await asyncio.sleep(2 * LAG_INTERVAL)  # it wakes, late, and records it
    finally:
        await monitor.stop()
    lag = monitor.snapshot()
    # Its timer was due at most LAG_INTERVAL after the block began, so it woke at
    # least BLOCK_SECONDS - LAG_INTERVAL late.
    assert lag.max_seconds >= BLOCK_SECONDS - LAG_INTERVAL, lag
    assert lag.recent_max_seconds == lag.max_seconds
    assert lag.stalls >= 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings, "a stall is logged"
    assert any(f"{lag.max_seconds:.3f} s late" in r.getMessage() for r in warnings), [
        r.getMessage() for r in warnings]
    assert not monitor.running


async def test_a_quiet_loop_stays_under_the_threshold() -> None:
    monitor = LoopLag()
    monitor.start()
    try:
        for _ in range(10):
            await asyncio.sleep(LAG_INTERVAL)  # other coroutines, behaving
    finally:
        await monitor.stop()
    lag = monitor.snapshot()
    assert lag.count >= 5, lag  # it really woke up, repeatedly
    assert lag.max_seconds < STALL_THRESHOLD, lag
    assert lag.stalls == 0
    assert lag.buckets[-1] == (float("inf"), lag.count)


def test_the_recent_maximum_forgets_old_stalls() -> None:
    now = [1000.0]
    monitor = LoopLag(clock=lambda: now[0])
    monitor.record(0.4)
    monitor.record(0.02)
    now[0] += RECENT_WINDOW / 2
    monitor.record(0.03)
    assert monitor.snapshot().recent_max_seconds == 0.4
    now[0] += RECENT_WINDOW / 2 + 1  # the 0.4 s stall is now older than the window
    lag = monitor.snapshot()
    assert lag.recent_max_seconds == 0.03
    assert lag.max_seconds == 0.4 and lag.stalls == 1 and lag.count == 3
    assert dict(lag.buckets)[0.05] == 2 and dict(lag.buckets)[0.5] == 3


def test_metrics_expose_the_lag() -> None:
    monitor = LoopLag()
    monitor.record(0.004)
    monitor.record(0.25)
    services = SimpleNamespace(
        whip=SimpleNamespace(resources={}, errors=0), media={}, bus=None,
        host=SimpleNamespace(mix_load=lambda: MixLoad(0, 0), mix_budget=1.0),
        listeners_now=lambda _: 0, loop_lag=monitor,
    )
    text = Metrics(services).render().decode()  # type: ignore[arg-type]
    samples = {s.name: s for f in text_string_to_metric_families(text) for s in f.samples
               if not s.name.endswith("_bucket")}
    assert samples["townhall_event_loop_lag_seconds"].value == 0.25
    assert samples["townhall_event_loop_lag_recent_seconds"].value == 0.25
    assert samples["townhall_event_loop_stalls_total"].value == 1
    assert samples["townhall_event_loop_lag_distribution_seconds_count"].value == 2
    # Without a monitor (not wired), nothing about the loop is reported.
    services.loop_lag = None
    assert "townhall_event_loop" not in Metrics(services).render().decode()  # type: ignore[arg-type]
