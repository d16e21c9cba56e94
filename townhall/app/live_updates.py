"""Periodic news for live clients: who is speaking (levels), and the audience figures."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from townhall.app.media_host import MediaHost
from townhall.app.outages import BACKEND_ERRORS, Outage
from townhall.backends.audience import SAMPLE_EVERY
from townhall.backends.bus import EventBus, Message
from townhall.backends.audience import AudienceBook

log = logging.getLogger(__name__)

# Speaking levels go to live clients this often; audience counts every AUDIENCE_EVERY
# ticks (2 s); the concurrent count is sampled for the plot every SAMPLE_TICKS (10 s).
LEVELS_INTERVAL = 0.25
AUDIENCE_EVERY = 8
SAMPLE_TICKS = int(SAMPLE_EVERY / LEVELS_INTERVAL)


class LiveUpdates:
    def __init__(self, host: MediaHost, bus: EventBus,
                 audience: AudienceBook) -> None:
        self.host = host
        self.bus = bus
        self.audience = audience
        self._ticker: asyncio.Task[None] | None = None
        self._outage = Outage("live updates")

    def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick())

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker

    async def audience_message(self, space_id: str) -> Message:
        concurrent, peak, unique = await self.audience.headline(space_id, time.time())
        return {"type": "audience", "listeners": concurrent, "peak": peak, "unique": unique}

    async def _tick(self) -> None:
        n = 0
        while True:
            await asyncio.sleep(LEVELS_INTERVAL)
            n += 1
            now = time.time()
            for space_id in list(self.host.media):
                try:
                    if n % SAMPLE_TICKS == 0:
                        await self.audience.sample(space_id, now)
                    if not self.bus.may_have_subscribers(space_id):
                        continue
                    self.bus.publish(space_id, {
                        "type": "levels", "levels": self.host.speaking_levels(space_id),
                        "on_stage": sorted(self.host.on_stage_here(space_id))})
                    if n % AUDIENCE_EVERY == 0:
                        self.bus.publish(space_id, await self.audience_message(space_id))
                    self._outage.ok()
                except BACKEND_ERRORS as exc:  # Redis away: levels and figures wait
                    self._outage.failed(exc)
                except Exception:
                    log.exception("live update of %s failed", space_id)
