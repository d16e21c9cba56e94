"""Everything the app holds for its lifetime, created and closed in one place."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field


import redis.asyncio as redis
from sqlalchemy import select

from townhall import limits
from townhall.backends.audience import SAMPLE_EVERY
from townhall.backends.memory.audience import AudienceBook
from townhall.limits import BEACON_INTERVAL
from townhall.backends.bus import EventBus, Message
from townhall.backends.redis.audience import RedisAudienceBook
from townhall.backends.redis.leases import LEASE_SECONDS, RENEW_EVERY, MediaLeases
from townhall.backends.redis.bus import RedisBus
from townhall.backends.redis.segments import RedisSegmentStore
from townhall.config import Settings
from townhall.domain.errors import ClientError
from townhall.media.webrtc.aiortc_tuning import set_audio_prefetch
from townhall.backends.memory.segments import MemorySegmentStore
from townhall.media.segment_store import SegmentStore
from townhall.media.space_media import SpaceMedia
from townhall.media.webrtc.whip import WhipEndpoint, accept_only, advertise_only
from townhall.app.metrics import Metrics
from townhall.backends.memory.ratelimit import RateLimiter
from townhall.domain import Event
from townhall.domain.events import (MuteChanged, Removed, RoleChanged, StateChanged,
                                    event_from_json, event_json)
from townhall.store.db import Database
from townhall.store.models import Space

log = logging.getLogger(__name__)

# Speaking levels go to live clients this often; audience counts every AUDIENCE_EVERY
# ticks (2 s); the concurrent count is sampled for the plot every SAMPLE_TICKS (10 s).
LEVELS_INTERVAL = 0.25
AUDIENCE_EVERY = 8
SAMPLE_TICKS = int(SAMPLE_EVERY / LEVELS_INTERVAL)


# In a cluster, the list of live Spaces (for taking over a dead node's) is re-read this
# often; leases are checked every RENEW_EVERY.
LIVE_SPACES_EVERY = 5.0


class WaitingRoomsFull(ClientError):
    status = 503


class MediaElsewhere(Exception):
    """Another node owns this Space's media (cluster mode)."""

    def __init__(self, owner: str) -> None:
        super().__init__(owner)
        self.owner = owner


@dataclass
class Services:
    settings: Settings
    db: Database
    store: SegmentStore
    whip: WhipEndpoint
    bus: EventBus = field(default_factory=EventBus)
    reactions: RateLimiter = field(
        default_factory=lambda: RateLimiter(limits.REACTION_BURST, limits.REACTIONS_PER_SECOND)
    )
    hand_raises: RateLimiter = field(
        default_factory=lambda: RateLimiter(limits.HAND_RAISE_BURST, limits.HAND_RAISES_PER_SECOND)
    )
    whip_offers: RateLimiter = field(
        default_factory=lambda: RateLimiter(limits.WHIP_BURST, limits.WHIP_OFFERS_PER_SECOND)
    )
    media: dict[str, SpaceMedia] = field(default_factory=dict)
    audience: AudienceBook | RedisAudienceBook = field(default_factory=AudienceBook)
    leases: MediaLeases | None = None  # cluster mode only
    redis: redis.Redis | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _ticker: asyncio.Task[None] | None = None
    _lease_keeper: asyncio.Task[None] | None = None
    metrics: Metrics = field(init=False)
    signins: RateLimiter = field(init=False)
    signups: RateLimiter = field(init=False)
    beacons: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = Metrics(self)
        # Per client address; the bursts are settings so a test rig or a known NAT can
        # raise them, the defaults are the named limits.
        self.signins = RateLimiter(self.settings.signin_burst, limits.SIGNINS_PER_SECOND)
        self.signups = RateLimiter(self.settings.signup_burst, limits.SIGNUPS_PER_SECOND)
        per_address = self.settings.listeners_per_address
        self.beacons = RateLimiter(per_address, per_address / BEACON_INTERVAL)

    @classmethod
    def create(cls, settings: Settings) -> Services:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        advertise_only(settings.advertised_addresses)
        accept_only(settings.allowed_networks)
        set_audio_prefetch(limits.AIORTC_AUDIO_PREFETCH)
        shared: dict[str, object] = {}
        if settings.cluster:
            client = redis.Redis.from_url(settings.redis_url)
            shared = {"redis": client, "store": RedisSegmentStore(client), "bus": RedisBus(client),
                      "audience": RedisAudienceBook(client),
                      "leases": MediaLeases(client, settings.own_url)}
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
        await self.store.start()
        await self.bus.start()
        self.bus.on_control = self._on_control
        self._ticker = asyncio.create_task(self._tick_live_clients())
        if self.leases is not None:
            self._lease_keeper = asyncio.create_task(self._keep_leases())

    async def start_media(self, space_id: str, recording: bool = True) -> SpaceMedia:
        """This node's media for the Space, started if needed. In a cluster it must own
        the Space's lease: MediaElsewhere names the node that does."""
        async with self._lock:
            media = self.media.get(space_id)
            if media is None:
                waiting = sum(1 for m in self.media.values() if not m.recording)
                if not recording and waiting >= limits.MAX_WAITING_ROOMS:
                    raise WaitingRoomsFull("too many waiting rooms open; try again at start time")
                if self.leases is not None and not await self.leases.acquire(space_id):
                    owner = await self.leases.owner(space_id)
                    if recording:  # the owner runs a waiting room: it goes live there
                        self.bus.send_control(space_id, {"type": "record"})
                    raise MediaElsewhere(owner or "")
                media = SpaceMedia(
                    space_id,
                    self.store,
                    self.settings.recordings_path / space_id,
                    recording=recording,
                )
                media.on_recording_change = self._recording_changed
                await media.start()
                self.media[space_id] = media
                log.info("media started", extra={"space": space_id, "recording": recording})
            elif recording:
                media.recording = True  # the waiting room goes live: same stream, recorded
            return media

    def listeners_now(self, space_id: str) -> int:
        """Concurrent listeners, without waiting: in a cluster, the figure the owner last
        published to every node."""
        if isinstance(self.audience, AudienceBook):
            return self.audience.concurrent_now(space_id, time.time())
        return self.bus.audience_now.get(space_id, 0)

    def on_stage(self, space_id: str) -> set[int]:
        """Speakers connected over WHIP: here, or (cluster) on the node mixing the
        Space, as its newest "levels" event said (none once it is silent that long)."""
        if space_id in self.media or self.leases is None:
            return self._on_stage_here(space_id)
        heard_at, users = self.bus.stage_now.get(space_id, (0.0, frozenset()))
        return set(users) if time.monotonic() - heard_at <= LEASE_SECONDS else set()

    def _on_stage_here(self, space_id: str) -> set[int]:
        return {r.user_id for r in self.whip.resources.values() if r.space_id == space_id}

    async def on_air(self, space_id: str) -> bool:
        """Is the Space's media running, here or (cluster) on any node?"""
        if space_id in self.media:
            return True
        return self.leases is not None and await self.leases.owner(space_id) is not None

    def _recording_changed(self, space_id: str, error: str | None) -> None:
        """Tell the Space's clients (the host panel shows it) that recording stopped or
        resumed; live listening is not affected either way."""
        self.bus.publish(space_id, {"type": "recording", "error": error})

    async def stop_media(self, space_id: str) -> None:
        await self.whip.close_space(space_id)
        async with self._lock:
            media = self.media.pop(space_id, None)
        if media is None:
            return
        await media.stop()
        log.info("media stopped", extra={"space": space_id, "parts": media.parts_published})
        figures = await self.audience.finish(space_id, time.time())
        with self.db.session() as db:
            space = db.get(Space, space_id)
            if space is not None:
                space.audience = figures
        if self.leases is not None:
            await self.leases.release(space_id)

    async def apply(self, space_id: str, events: tuple[Event, ...]) -> None:
        """Carry out what a Room decision means for media and live clients. In a cluster
        the node owning the Space's media does it (the decision may be taken anywhere)."""
        if space_id in self.media or self.leases is None:
            await self._apply_here(space_id, events)
        else:
            self.bus.send_control(space_id, {"type": "events",
                                             "events": [event_json(e) for e in events]})

    def _on_control(self, space_id: str, message: Message) -> None:
        if space_id not in self.media:
            return  # another node's Space
        if message.get("type") == "record":
            self.media[space_id].recording = True
        elif message.get("type") == "events":
            events = tuple(event_from_json(e) for e in message["events"])
            asyncio.create_task(self._apply_here(space_id, events))

    async def _apply_here(self, space_id: str, events: tuple[Event, ...]) -> None:
        for event in events:
            if isinstance(event, MuteChanged):
                self.whip.set_muted(space_id, event.user_id, event.muted)
            elif isinstance(event, Removed) or (
                isinstance(event, RoleChanged) and event.role == "listener"
            ):
                await self.whip.close_user(space_id, event.user_id)
            elif isinstance(event, StateChanged) and event.state in ("ended", "cancelled"):
                await self.stop_media(space_id)

    def speaking_levels(self, space_id: str) -> dict[int, float]:
        media = self.media.get(space_id)
        if media is None:
            return {}
        levels: dict[int, float] = {}
        for resource_id, level in media.speaking_levels().items():
            resource = self.whip.resources.get(resource_id)
            if resource is not None:
                levels[resource.user_id] = max(level, levels.get(resource.user_id, 0.0))
        return levels

    async def _tick_live_clients(self) -> None:
        n = 0
        while True:
            await asyncio.sleep(LEVELS_INTERVAL)
            n += 1
            now = time.time()
            for space_id in list(self.media):
                try:
                    if n % SAMPLE_TICKS == 0:
                        await self.audience.sample(space_id, now)
                    if not self.bus.may_have_subscribers(space_id):
                        continue
                    levels = self.speaking_levels(space_id)
                    self.bus.publish(space_id, {"type": "levels", "levels": levels,
                                                "on_stage": sorted(self._on_stage_here(space_id))})
                    if n % AUDIENCE_EVERY == 0:
                        await self.publish_audience(space_id)
                except Exception:
                    log.exception("live update of %s failed", space_id)

    async def audience_message(self, space_id: str) -> Message:
        concurrent, peak, unique = await self.audience.headline(space_id, time.time())
        return {"type": "audience", "listeners": concurrent, "peak": peak, "unique": unique}

    async def publish_audience(self, space_id: str) -> None:
        self.bus.publish(space_id, await self.audience_message(space_id))

    async def _keep_leases(self) -> None:
        """Cluster: renew this node's leases (a lost one means another node took the
        Space: stop here), and take over live Spaces whose owner died."""
        assert self.leases is not None
        live: set[str] = set()
        last_read = 0.0
        while True:
            await asyncio.sleep(RENEW_EVERY)
            try:
                for space_id in list(self.media):
                    # acquire = renew, or take it again if it vanished (Redis restarted
                    # empty); False only when another node holds it.
                    if not await self.leases.acquire(space_id):
                        log.warning("lost the media lease of %s; stopping here", space_id)
                        await self._drop_media(space_id)
                if time.monotonic() - last_read > LIVE_SPACES_EVERY:
                    live = self._live_space_ids()
                    last_read = time.monotonic()
                    for space_id, media in list(self.media.items()):
                        if media.recording and space_id not in live:
                            # Ended while its end command was in flight to nobody.
                            await self.stop_media(space_id)
                others = sorted(live - self.media.keys())
                owners = await self.leases.owners(others)  # one round trip for all
                for space_id in others:
                    if owners[space_id] is None:
                        if space_id not in self._live_space_ids(space_id):
                            continue  # ended since the list was read
                        log.info("taking over live Space %s", space_id)
                        await self.start_media(space_id)
            except MediaElsewhere:
                pass  # another node was quicker
            except Exception:
                log.exception("keeping media leases failed")

    def _live_space_ids(self, only: str | None = None) -> set[str]:
        query = select(Space.id).where(Space.state == "live")
        if only is not None:
            query = query.where(Space.id == only)
        with self.db.session() as db:
            return set(db.scalars(query))

    async def _drop_media(self, space_id: str) -> None:
        """Stop this node's copy without ending the Space's playlist (the new owner
        continues it)."""
        await self.whip.close_space(space_id)
        async with self._lock:
            media = self.media.pop(space_id, None)
        if media is not None:
            await media.abandon()

    async def close(self) -> None:
        for task in (self._ticker, self._lease_keeper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.whip.close_all()
        for space_id in list(self.media):
            if self.leases is None:
                await self.stop_media(space_id)
            else:  # a cluster node leaving: another node takes the Space over
                await self._drop_media(space_id)
                await self.leases.release(space_id)
        await self.bus.close()
        await self.store.close()
        if self.redis is not None:
            await self.redis.aclose()
        self.db.close()
