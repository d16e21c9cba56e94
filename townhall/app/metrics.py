"""Prometheus metrics at /metrics, read from live state at scrape time.

Per-Space figures come from the objects that own them (mixer thread, WHIP endpoint,
event bus), so nothing is counted twice and nothing drifts. Counters that no object
keeps (API rejections) live here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from townhall.app.looplag import LoopLag
from townhall.app.notifier import Notifier
from townhall.backends.bus import EventBus
from townhall.media.space_media import SpaceMedia
from townhall.media.webrtc.whip import WhipEndpoint

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Services(Protocol):
    """What the metrics read at scrape time (townhall.app.runtime.Services has it)."""

    whip: WhipEndpoint
    media: dict[str, SpaceMedia]
    bus: EventBus
    # The event-loop lag monitor (townhall.app.looplag); None (or absent) reports no lag.
    loop_lag: LoopLag | None
    notifier: Notifier

    def listeners_now(self, space_id: str) -> int: ...


class Metrics:
    def __init__(self, services: Services) -> None:
        self.registry = CollectorRegistry()
        self.rate_limited = Counter(
            "townhall_rate_limited_requests",
            "Requests refused with 429, by what was limited",
            ["limit"],
            registry=self.registry,
        )
        self.client_errors = Counter(
            "townhall_client_errors",
            "4xx answers, by status",
            ["status"],
            registry=self.registry,
        )
        self.registry.register(_LiveState(services))
        self.registry.register(_LoopLagState(services))
        self.registry.register(_NotificationState(services))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _LiveState(Collector):
    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        svc = self.services
        listeners = GaugeMetricFamily(
            "townhall_space_listeners",
            "Concurrent listeners (player beacons, counted across the cluster)", labels=["space"])
        followers = GaugeMetricFamily(
            "townhall_space_event_streams", "Live event streams (SSE) open on this node",
            labels=["space"])
        speakers = GaugeMetricFamily(
            "townhall_space_speakers", "Speakers connected over WHIP", labels=["space"])
        parts = CounterMetricFamily(
            "townhall_space_parts", "LL-HLS parts published", labels=["space"])
        ticks = CounterMetricFamily("townhall_mixer_ticks", "Mixer ticks run", labels=["space"])
        late = CounterMetricFamily(
            "townhall_mixer_late_ticks", "Mixer ticks more than one tick late", labels=["space"])
        lateness = CounterMetricFamily(
            "townhall_mixer_tick_lateness_seconds", "Sum of how late mixer ticks ran",
            labels=["space"])
        encode = CounterMetricFamily(
            "townhall_encode_seconds", "Time spent encoding AAC", labels=["space"])
        recording_errors = CounterMetricFamily(
            "townhall_recording_errors", "Failed recording writes (disk full, I/O errors)",
            labels=["space"])
        connected: dict[str, int] = {}
        for resource in svc.whip.resources.values():
            connected[resource.space_id] = connected.get(resource.space_id, 0) + 1
        for space_id, media in list(svc.media.items()):
            worker = media.worker
            listeners.add_metric([space_id], svc.listeners_now(space_id))
            followers.add_metric([space_id], svc.bus.count(space_id))
            speakers.add_metric([space_id], connected.get(space_id, 0))
            parts.add_metric([space_id], media.parts_published)
            ticks.add_metric([space_id], worker.ticks)
            late.add_metric([space_id], worker.late_ticks)
            lateness.add_metric([space_id], worker.lateness_seconds_total)
            encode.add_metric([space_id], worker.encode_seconds_total)
            recording_errors.add_metric([space_id], media.recorder.errors)
        yield from (listeners, followers, speakers, parts, ticks, late, lateness, encode, recording_errors)
        yield CounterMetricFamily(
            "townhall_whip_errors", "WHIP offers rejected after parsing", value=svc.whip.errors)
        yield GaugeMetricFamily("townhall_live_spaces", "Spaces with media running",
                                value=len(svc.media))
        yield GaugeMetricFamily(
            "townhall_mix_load", "Share of one core this node's mixing is planned to use "
            "(townhall/domain/capacity.py)", value=svc.host.mix_load().cost)
        yield GaugeMetricFamily(
            "townhall_mix_budget", "Share of one core this node mixes with at most; beyond "
            "it go-lives and new speakers get 503 node_full", value=svc.host.mix_budget)


class _LoopLagState(Collector):
    """How late the event loop's lag monitor woke up (townhall.app.looplag)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(
        self,
    ) -> Iterator[GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily]:
        monitor = getattr(self.services, "loop_lag", None)
        if monitor is None:
            return
        lag = monitor.snapshot()
        yield GaugeMetricFamily(
            "townhall_event_loop_lag_seconds",
            "Largest event-loop lag since start: how late a timer on the loop woke up",
            value=lag.max_seconds)
        yield GaugeMetricFamily(
            "townhall_event_loop_lag_recent_seconds",
            f"Largest event-loop lag within the last {monitor.recent_window:g} s",
            value=lag.recent_max_seconds)
        yield CounterMetricFamily(
            "townhall_event_loop_stalls",
            f"Event-loop lags over the stall threshold ({monitor.threshold:g} s)",
            value=lag.stalls)
        yield HistogramMetricFamily(
            "townhall_event_loop_lag_distribution_seconds",
            f"Event-loop lag of each monitor wake-up (every {monitor.interval:g} s)",
            buckets=[("+Inf" if bound == float("inf") else f"{bound:g}", count)
                     for bound, count in lag.buckets],
            sum_value=lag.sum_seconds)


class _NotificationState(Collector):
    """What the notifier wrote and its channels sent (townhall.app.notifier)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        notifier = getattr(self.services, "notifier", None)
        if notifier is None:
            return
        sent = CounterMetricFamily(
            "townhall_notifications", "Notifications by channel and outcome (app: written)",
            labels=["channel", "outcome"])
        sent.add_metric(["app", "sent"], notifier.written)
        waiting = GaugeMetricFamily(
            "townhall_notification_jobs_waiting", "Fan-out jobs and channel batches queued",
            labels=["queue"])
        waiting.add_metric(["fan-out"], notifier.jobs.waiting())
        for channel in notifier.channels:
            for outcome, count in channel.counts.items():
                sent.add_metric([channel.name, outcome], count)
            waiting.add_metric([channel.name], channel.queue.qsize())
        yield from (sent, waiting)
