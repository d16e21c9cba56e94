"""Everything the app holds for its lifetime, created, started and closed in one place
(like Starlette's lifespan): backends, the database, the media host and the use cases.
"""

from __future__ import annotations

import asyncio
import logging
import gc
import sys
import time
from dataclasses import dataclass, field

import anyio.to_thread
import redis.asyncio as redis
from sqlalchemy import select

from townhall import limits
from townhall.app.captions import Captioner
from townhall.app.feeds import LiveFeed
from townhall.app.lifecycle import Lifecycle
from townhall.app.live_updates import LiveUpdates
from townhall.app.locks import SpaceLocks
from townhall.app.looplag import LoopLag
from townhall.app.media_host import MediaElsewhere, MediaHost, WaitingRoomsFull
from townhall.app.metrics import Metrics
from townhall.app.moderation import Moderation
from townhall.app.inbox import Inbox
from townhall.app.incidents import EdgeLogTailer, IncidentCollector
from townhall.app.notifier import Channel, Notifier
from townhall.app.webpush import push_channel
from townhall.app.mailer import email_channel
from townhall.app.presenters import LiveFacts
from townhall.app.recordings import Recordings
from townhall.app.spaces import SpaceCommands
from townhall.app.stage import Stage
from townhall.backends.bus import EventBus, Message
from townhall.backends.audience import AudienceBook
from townhall.backends.incidents import IncidentBook
from townhall.backends.stream_edges import StreamEdges
from townhall.backends.memory.incidents import IncidentBook as MemoryIncidentBook
from townhall.backends.redis.incidents import RedisIncidentBook
from townhall.backends.memory.audience import AudienceBook as MemoryAudienceBook
from townhall.backends.memory.ratelimit import RateLimiter as MemoryRateLimiter
from townhall.backends.ratelimit import RateLimiter
from townhall.backends.redis.ratelimit import RedisRateLimiter
from townhall.backends.memory.slots import ConnectionSlots
from townhall.backends.memory.segments import MemorySegmentStore
from townhall.backends.redis.audience import RedisAudienceBook
from townhall.backends.redis.bus import RedisBus
from townhall.backends.redis.client import connect as connect_redis
from townhall.backends.redis.jobs import RedisJobQueue
from townhall.backends.memory.jobs import MemoryJobQueue
from townhall.backends.redis.capacity import NodeRoom
from townhall.backends.redis.leases import MediaLeases
from townhall.backends.redis.segments import RedisSegmentStore
from townhall.config import Settings
from townhall.limits import BEACON_INTERVAL
from townhall.media.segment_store import SegmentStore
from townhall.media.space_media import SpaceMedia
from townhall.media.webrtc.aiortc_tuning import (decode_opus_in_mono, set_audio_prefetch,
                                                 use_fast_audio_level)
from townhall.media.webrtc.whip import WhipEndpoint, accept_only, advertise_only
from townhall.store.db import Database
from townhall.store.models import Space
from townhall import threads

__all__ = ["MediaElsewhere", "Services", "WaitingRoomsFull"]

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    db: Database
    store: SegmentStore
    whip: WhipEndpoint
    bus: EventBus = field(default_factory=EventBus)
    # Avatar uploads received at once (each holds its file in memory; the others wait
    # with their body unread: townhall/http/api/users.py).
    upload_slots: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(limits.AVATAR_UPLOADS_AT_ONCE))
    audience: AudienceBook = field(default_factory=MemoryAudienceBook)
    incident_book: IncidentBook = field(default_factory=MemoryIncidentBook)
    leases: MediaLeases | None = None  # cluster mode only
    room: NodeRoom | None = None  # cluster mode only
    redis: redis.Redis | None = None
    locks: SpaceLocks = field(default_factory=SpaceLocks)
    loop_lag: LoopLag = field(default_factory=LoopLag)
    host: MediaHost = field(init=False)
    commands: SpaceCommands = field(init=False)
    stage: Stage = field(init=False)
    live: LiveUpdates = field(init=False)
    lifecycle: Lifecycle = field(init=False)
    metrics: Metrics = field(init=False)
    # Rate limits (townhall/backends/ratelimit.py), shared by a cluster's origins.
    reactions: RateLimiter = field(init=False)
    hand_raises: RateLimiter = field(init=False)
    whip_offers: RateLimiter = field(init=False)
    avatar_uploads: RateLimiter = field(init=False)
    signins: RateLimiter = field(init=False)
    signups: RateLimiter = field(init=False)
    space_creations: RateLimiter = field(init=False)
    beacons: RateLimiter = field(init=False)
    new_listeners: RateLimiter = field(init=False)
    stage_tokens: RateLimiter = field(init=False)
    invite_links: RateLimiter = field(init=False)
    follows: RateLimiter = field(init=False)
    email_confirms: RateLimiter = field(init=False)
    push_subscribes: RateLimiter = field(init=False)
    reports: RateLimiter = field(init=False)
    clips: RateLimiter = field(init=False)
    moderation: Moderation = field(init=False)
    recordings: Recordings = field(init=False)
    notifier: Notifier = field(init=False)
    inbox: Inbox = field(init=False)
    event_streams: ConnectionSlots = field(init=False)
    incidents: IncidentCollector = field(init=False)
    edge_log: EdgeLogTailer | None = field(init=False, default=None)
    captions: Captioner = field(init=False)
    stream_edges: StreamEdges | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._make_rate_limits()
        edges = self.settings.stream_edge_urls
        self.stream_edges = StreamEdges(edges) if edges else None
        self.host = MediaHost(self.db, self.store, self.whip, self.bus, self.audience, self.locks,
                              self.settings.recordings_path, self.leases,
                              mix_budget=self.settings.mix_budget, room=self.room,
                              stream_edges=self.stream_edges)
        self.incidents = IncidentCollector(self.incident_book, self.host.media, self.host.on_air,
                                           self.settings.timeline_bucket_seconds)
        self.host.more_figures = self.incidents.finish
        self.captions = Captioner(self.settings, self.db, self.bus, self.whip,
                                  self.settings.recordings_path)
        self.host.captions = self.captions
        if self.settings.edge_access_log is not None:
            self.edge_log = EdgeLogTailer(self.settings.edge_access_log, self.incidents)
            self.incidents.count_requests = False  # the edge's figures, not ours
        # In a cluster the fan-out jobs go through Redis: each done once, by one origin.
        jobs = (RedisJobQueue(self.redis, self.settings.own_url) if self.redis is not None
                else MemoryJobQueue())
        self.notifier = Notifier(self.db, channels=self._notification_channels(), jobs=jobs)
        self.inbox = Inbox(self.bus)
        self.notifier.on_written = self.inbox.published
        self.commands = SpaceCommands(self.db, self.bus, self.locks, self.live_facts,
                                      self.host.carry_out, self.notifier.after_decision)
        self.stage = Stage(self.db, self.locks, self.host, self.whip, self.whip_offers)
        self.live = LiveUpdates(self.host, self.bus, self.audience)
        self.lifecycle = Lifecycle(self.settings, self.db, self.host, self.commands)
        self.moderation = Moderation(self.db, self.commands, self.settings.base_url)
        # Replays as files, clips, trims, retention (townhall/app/recordings.py).
        self.recordings = Recordings(self.settings, self.db)
        self.recordings.on_written = self.inbox.published
        announce = self.whip.on_stage_change

        def stage_changed(space_id: str, user_id: int, on_stage: bool) -> None:
            if announce is not None:
                announce(space_id, user_id, on_stage)
            self.lifecycle.stage_changed()

        self.whip.on_stage_change = stage_changed
        self.metrics = Metrics(self)
        self.event_streams = ConnectionSlots(self.settings.event_streams_per_address,
                                             self.settings.max_event_streams)

    def _notification_channels(self) -> tuple[Channel, ...]:
        """The ways out besides the app that this deployment has set up (email when
        SMTP is set, Web Push)."""
        email = email_channel(self.db, self.settings)
        return (push_channel(self.db, self.settings), *((email,) if email is not None else ()))

    def _make_rate_limits(self) -> None:
        """Every rate limit: in Redis in a cluster (a client spreading requests over the
        origins gets no more than from one), in process otherwise. Per client address
        or account; some bursts are settings so a test rig or a known NAT can raise
        them, the defaults are the named limits."""
        def limit(name: str, burst: int, per_second: float) -> RateLimiter:
            if self.redis is not None:
                return RedisRateLimiter(self.redis, name, burst, per_second)
            return MemoryRateLimiter(burst, per_second)

        s = self.settings
        self.reactions = limit("reactions", limits.REACTION_BURST, limits.REACTIONS_PER_SECOND)
        self.hand_raises = limit("hands", limits.HAND_RAISE_BURST, limits.HAND_RAISES_PER_SECOND)
        self.whip_offers = limit("whip", limits.WHIP_BURST, limits.WHIP_OFFERS_PER_SECOND)
        self.avatar_uploads = limit("avatars", limits.AVATAR_UPLOAD_BURST,
                                    limits.AVATAR_UPLOADS_PER_SECOND)
        self.signins = limit("signins", s.signin_burst, limits.SIGNINS_PER_SECOND)
        self.signups = limit("signups", s.signup_burst, limits.SIGNUPS_PER_SECOND)
        self.space_creations = limit("spaces", s.space_create_burst,
                                     limits.SPACES_CREATED_PER_SECOND)
        per_address = s.listeners_per_address
        self.beacons = limit("beacons", per_address, per_address / BEACON_INTERVAL)
        self.new_listeners = limit("listeners", per_address,
                                   per_address / limits.NEW_LISTENERS_REFILL_SECONDS)
        self.stage_tokens = limit("stage", s.stage_token_burst, limits.STAGE_TOKENS_PER_SECOND)
        self.invite_links = limit("invites", s.invite_link_burst, limits.INVITE_LINKS_PER_SECOND)
        self.follows = limit("follows", limits.FOLLOW_BURST, limits.FOLLOWS_PER_SECOND)
        self.email_confirms = limit("email-confirms", limits.EMAIL_CONFIRM_BURST,
                                    limits.EMAIL_CONFIRMS_PER_SECOND)
        self.push_subscribes = limit("push-subscribes", limits.PUSH_SUBSCRIBE_BURST,
                                     limits.PUSH_SUBSCRIBES_PER_SECOND)
        self.reports = limit("reports", limits.REPORT_BURST, limits.REPORTS_PER_SECOND)
        self.clips = limit("clips", limits.CLIP_BURST, limits.CLIPS_PER_SECOND)

    @classmethod
    def create(cls, settings: Settings) -> Services:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        advertise_only(settings.advertised_addresses)
        accept_only(settings.allowed_networks)
        set_audio_prefetch(limits.AIORTC_AUDIO_PREFETCH)
        use_fast_audio_level()
        decode_opus_in_mono()
        shared: dict[str, object] = {}
        if settings.cluster:
            client = connect_redis(settings.redis_url)
            shared = {"redis": client, "store": RedisSegmentStore(client), "bus": RedisBus(client),
                      "audience": RedisAudienceBook(client),
                      "incident_book": RedisIncidentBook(client),
                      "leases": MediaLeases(client, settings.own_url),
                      "room": NodeRoom(client, settings.own_url)}
        bus: EventBus = shared.pop("bus", None) or EventBus()  # type: ignore[assignment]

        def stage_changed(space_id: str, user_id: int, on_stage: bool) -> None:
            bus.publish(space_id, {"type": "stage", "user_id": user_id, "on_stage": on_stage})

        return cls(
            settings=settings,
            db=Database(settings.db_url),
            store=shared.pop("store", None) or MemorySegmentStore(),  # type: ignore[arg-type]
            whip=WhipEndpoint(settings.allowed_networks, on_stage_change=stage_changed),
            bus=bus,
            **shared,  # type: ignore[arg-type]
        )

    async def start(self) -> None:
        """Connect shared parts, then start the periodic work."""
        # Plain `def` routes and dependencies run on anyio's threads: few of them, so
        # they cannot take the GIL from the loop (townhall/threads.py says why).
        anyio.to_thread.current_default_thread_limiter().total_tokens = (
            limits.SYNC_ROUTE_THREADS)
        sys.setswitchinterval(limits.GIL_SWITCH_INTERVAL)
        self.loop_lag.start()
        await self.store.start()
        await self.bus.start()
        self.live.start()
        self.host.start()
        if self.stream_edges is not None:
            self.stream_edges.start()
        self.lifecycle.start()
        self.recordings.start()
        await self.notifier.jobs.start()
        self.notifier.start()
        self.inbox.start()
        self.incidents.start()
        if self.edge_log is not None:
            self.edge_log.start()
        # Everything loaded so far lives as long as the process: a full collection
        # scanning it all held the GIL ~80-140 ms (a stall in every speaker's audio, seen
        # in benchmarks/burst_stall.py). Frozen, the collector only scans what comes later.
        gc.collect()
        gc.freeze()

    async def resume_live_spaces(self) -> None:
        """One node: Spaces that were live when the process stopped go on (their media
        restarts; speakers reconnect with their WHIP tokens). In a cluster the lease
        keeper takes Spaces over instead."""
        if self.leases is not None:
            return

        def live_ids() -> list[str]:
            with self.db.session() as db:
                return list(db.scalars(select(Space.id).where(Space.state == "live")))

        for space_id in await threads.run(threads.DATABASE, live_ids):
            log.info("resuming live Space %s", space_id)
            async with self.locks.hold(space_id):
                await self.host.start_media(space_id)

    # -- read by the HTTP layer --------------------------------------------------------
    @property
    def media(self) -> dict[str, SpaceMedia]:
        return self.host.media

    async def start_media(self, space_id: str, recording: bool = True) -> SpaceMedia:
        return await self.host.start_media(space_id, recording)

    def on_stage(self, space_id: str) -> set[int]:
        return self.host.on_stage(space_id)

    async def confirm_email(self, user_id: int) -> None:
        """Send the link that proves a new email address is its owner's (when this
        deployment sends email; without it the address waits, unconfirmed)."""
        for channel in self.notifier.channels:
            confirm = getattr(channel, "send_confirmation", None)
            if confirm is not None:
                await confirm(user_id)

    async def on_air(self, space_id: str) -> bool:
        return await self.host.on_air(space_id)

    def listeners_now(self, space_id: str) -> int:
        """Concurrent listeners, without waiting: in a cluster, the figure the owner last
        published to every node."""
        if isinstance(self.audience, MemoryAudienceBook):
            return self.audience.concurrent_now(space_id, time.time())
        return self.bus.audience_now.get(space_id, 0)

    def live_facts(self, space_id: str) -> LiveFacts:
        media = self.host.media.get(space_id)
        return LiveFacts(on_stage=frozenset(self.on_stage(space_id)),
                         listeners=self.listeners_now(space_id),
                         recording_error=media.recorder.last_error if media else None)

    async def audience_message(self, space_id: str) -> Message:
        return await self.live.audience_message(space_id)

    def feed(self, space_id: str, viewer: int | None) -> LiveFeed:
        return LiveFeed(self.bus, space_id, viewer)

    async def close(self) -> None:
        await self.loop_lag.stop()
        if self.edge_log is not None:
            await self.edge_log.close()
        await self.incidents.close()
        await self.lifecycle.close()
        await self.recordings.close()
        await self.inbox.stop()
        await self.notifier.close()
        await self.notifier.jobs.close()
        await self.live.close()
        await self.host.close()
        if self.stream_edges is not None:
            await self.stream_edges.close()
        await self.captions.close()
        await self.bus.close()
        await self.store.close()
        if self.redis is not None:
            await self.redis.aclose()
        self.db.close()
