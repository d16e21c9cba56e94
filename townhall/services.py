"""Everything the app holds for its lifetime, created and closed in one place."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from townhall.config import Settings
from townhall.media.segment_store import MemorySegmentStore, SegmentStore
from townhall.media.space_media import SpaceMedia
from townhall.media.whip import WhipEndpoint, accept_only, advertise_only
from townhall.store.db import Database

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    db: Database
    store: SegmentStore
    whip: WhipEndpoint
    media: dict[str, SpaceMedia] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def create(cls, settings: Settings) -> Services:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        advertise_only(settings.advertised_addresses)
        accept_only(settings.allowed_networks)
        return cls(
            settings=settings,
            db=Database(settings.db_url),
            store=MemorySegmentStore(),
            whip=WhipEndpoint(settings.allowed_networks),
        )

    async def start_media(self, space_id: str) -> SpaceMedia:
        async with self._lock:
            media = self.media.get(space_id)
            if media is None:
                media = SpaceMedia(
                    space_id, self.store, self.settings.recordings_dir / space_id
                )
                await media.start()
                self.media[space_id] = media
            return media

    async def stop_media(self, space_id: str) -> None:
        await self.whip.close_space(space_id)
        async with self._lock:
            media = self.media.pop(space_id, None)
        if media is not None:
            await media.stop()

    async def close(self) -> None:
        await self.whip.close_all()
        for space_id in list(self.media):
            await self.stop_media(space_id)
        self.db.close()
