"""Everything the app holds for its lifetime, created and closed in one place."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from townhall import limits
from townhall.audience import SAMPLE_EVERY, AudienceCounter
from townhall.bus import EventBus
from townhall.config import Settings
from townhall.errors import ClientError
from townhall.media.aiortc_tuning import set_audio_prefetch
from townhall.media.segment_store import MemorySegmentStore, SegmentStore
from townhall.media.space_media import SpaceMedia
from townhall.media.whip import WhipEndpoint, accept_only, advertise_only
from townhall.metrics import Metrics
from townhall.ratelimit import RateLimiter
from townhall.rooms import Event
from townhall.rooms.events import MuteChanged, Removed, RoleChanged, StateChanged
from townhall.store.db import Database
from townhall.store.models import Space

log = logging.getLogger(__name__)

# Speaking levels go to live clients this often; audience counts every AUDIENCE_EVERY
# ticks (2 s); the concurrent count is sampled for the plot every SAMPLE_TICKS (10 s).
LEVELS_INTERVAL = 0.25
AUDIENCE_EVERY = 8
SAMPLE_TICKS = int(SAMPLE_EVERY / LEVELS_INTERVAL)


class WaitingRoomsFull(ClientError):
    status = 503


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
    audience: dict[str, AudienceCounter] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _ticker: asyncio.Task[None] | None = None
    metrics: Metrics = field(init=False)
    signins: RateLimiter = field(init=False)
    signups: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = Metrics(self)
        # Per client address; the bursts are settings so a test rig or a known NAT can
        # raise them, the defaults are the named limits.
        self.signins = RateLimiter(self.settings.signin_burst, limits.SIGNINS_PER_SECOND)
        self.signups = RateLimiter(self.settings.signup_burst, limits.SIGNUPS_PER_SECOND)

    @classmethod
    def create(cls, settings: Settings) -> Services:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        advertise_only(settings.advertised_addresses)
        accept_only(settings.allowed_networks)
        set_audio_prefetch(limits.AIORTC_AUDIO_PREFETCH)
        bus = EventBus()

        def stage_changed(space_id: str, user_id: int, on_stage: bool) -> None:
            bus.publish(space_id, {"type": "stage", "user_id": user_id, "on_stage": on_stage})

        return cls(
            settings=settings,
            db=Database(settings.db_url),
            store=MemorySegmentStore(),
            whip=WhipEndpoint(settings.allowed_networks, on_stage_change=stage_changed),
            bus=bus,
        )

    def start_ticker(self) -> None:
        self._ticker = asyncio.create_task(self._tick_live_clients())

    async def start_media(self, space_id: str, recording: bool = True) -> SpaceMedia:
        async with self._lock:
            media = self.media.get(space_id)
            if media is None:
                waiting = sum(1 for m in self.media.values() if not m.recording)
                if not recording and waiting >= limits.MAX_WAITING_ROOMS:
                    raise WaitingRoomsFull("too many waiting rooms open; try again at start time")
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

    def _recording_changed(self, space_id: str, error: str | None) -> None:
        """Tell the Space's clients (the host panel shows it) that recording stopped or
        resumed; live listening is not affected either way."""
        self.bus.publish(space_id, {"type": "recording", "error": error})

    async def stop_media(self, space_id: str) -> None:
        await self.whip.close_space(space_id)
        async with self._lock:
            media = self.media.pop(space_id, None)
        if media is not None:
            await media.stop()
            log.info("media stopped", extra={"space": space_id, "parts": media.parts_published})
        counter = self.audience.pop(space_id, None)
        if counter is not None:
            counter.sample(time.time())
            with self.db.session() as db:
                space = db.get(Space, space_id)
                if space is not None:
                    space.audience = counter.summary(time.time())

    async def apply(self, space_id: str, events: tuple[Event, ...]) -> None:
        """Carry out what a Room decision means for media and live clients."""
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

    def audience_of(self, space_id: str) -> AudienceCounter:
        return self.audience.setdefault(space_id, AudienceCounter())

    async def _tick_live_clients(self) -> None:
        n = 0
        while True:
            await asyncio.sleep(LEVELS_INTERVAL)
            n += 1
            now = time.time()
            for space_id in list(self.media):
                if n % SAMPLE_TICKS == 0:
                    self.audience_of(space_id).sample(now)
                if not self.bus.count(space_id):
                    continue
                levels = self.speaking_levels(space_id)
                self.bus.publish(space_id, {"type": "levels", "levels": levels})
                if n % AUDIENCE_EVERY == 0:
                    self.publish_audience(space_id, now)

    def publish_audience(self, space_id: str, now: float) -> None:
        counter = self.audience_of(space_id)
        self.bus.publish(space_id, {"type": "audience", "listeners": counter.concurrent(now),
                                    "peak": counter.peak, "unique": counter.unique})

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.whip.close_all()
        for space_id in list(self.media):
            await self.stop_media(space_id)
        self.db.close()
