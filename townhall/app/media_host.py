"""This node's media: which Spaces it mixes, and what a room decision means for them.

`carry_out` is where decisions become media effects (mute in the mixer, close a peer
connection, start or stop a Space's media). It runs under the Space's lock: called by
SpaceCommands.act on the node that decided, or, in a cluster, by the node that owns the
Space's media when the decision's control message arrives (it takes the lock there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from townhall import limits
from townhall.app.captions import Captioner
from townhall.app.locks import SpaceLocks
from townhall.app.outages import BACKEND_ERRORS, Outage
from townhall.backends.bus import EventBus, Message
from townhall.backends.audience import AudienceBook
from townhall.backends.redis.capacity import NodeRoom
from townhall.backends.redis.leases import LEASE_SECONDS, RENEW_EVERY, MediaLeases
from townhall.backends.stream_edges import StreamEdges
from townhall.domain import Event
from townhall.domain.capacity import MixLoad, admit, cost_of
from townhall.domain.errors import Unavailable
from townhall.domain.events import (CaptionsChanged, MuteChanged, RecordingCut, Removed, RoleChanged,
                                    StateChanged, event_from_json, event_json)
from townhall.media.recorder import prune_cut
from townhall.media.segment_store import SegmentStore
from townhall.media.space_media import SpaceMedia
from townhall.media.webrtc.whip import WhipEndpoint
from townhall.store.db import Database
from townhall.store.models import Space
from townhall import threads

log = logging.getLogger(__name__)

# In a cluster, the list of live Spaces (for taking over a dead node's) is re-read this
# often; leases are checked every RENEW_EVERY.
LIVE_SPACES_EVERY = 5.0


class WaitingRoomsFull(Unavailable):
    pass


class MediaElsewhere(Exception):
    """Another node owns this Space's media (cluster mode)."""

    def __init__(self, owner: str) -> None:
        super().__init__(owner)
        self.owner = owner


class MediaHost:
    def __init__(self, db: Database, store: SegmentStore, whip: WhipEndpoint, bus: EventBus,
                 audience: AudienceBook, locks: SpaceLocks,
                 recordings: Path, leases: MediaLeases | None = None,
                 mix_budget: float = limits.MIX_BUDGET, room: NodeRoom | None = None,
                 stream_edges: StreamEdges | None = None) -> None:
        self.db = db
        # Where the Spaces mixed here publish their stream chunks (None: no edges).
        self.stream_edges = stream_edges
        self.mix_budget = mix_budget  # share of one core this node plans to mix with
        self.store = store
        self.whip = whip
        self.bus = bus
        self.audience = audience
        self.locks = locks
        self.recordings = recordings
        self.leases = leases
        # Cluster: every node's free mixing room, so a full node can hand a go-live on.
        self.room = room
        self.media: dict[str, SpaceMedia] = {}
        self._starting = asyncio.Lock()  # the media dict and the waiting-room count
        self._lease_keeper: asyncio.Task[None] | None = None
        self._effects: set[asyncio.Task[None]] = set()
        # More figures to store with the audience's when a Space goes off air (the
        # incident timeline: townhall/app/incidents.py), keyed apart from them.
        self.more_figures: Callable[[str], Awaitable[dict[str, object]]] | None = None
        # Live captions (townhall/app/captions.py): told when a Space's media starts
        # and stops here, and when its Room switches captions.
        self.captions: Captioner | None = None
        self._closing = False
        bus.on_control = self._on_control

    def start(self) -> None:
        if self.leases is not None:
            self._lease_keeper = asyncio.create_task(self._keep_leases())

    # -- admission by capacity ------------------------------------------------------
    def mix_load(self) -> MixLoad:
        """What this node mixes now: its Spaces' media and the speakers connected (or
        being answered) here."""
        return MixLoad(spaces=len(self.media), speakers=self.whip.speakers())

    def admit_space(self, space_id: str) -> None:
        """NodeFull (503) unless this node can mix one more Space with its host. A
        Space whose media already runs here (a waiting room) costs nothing more."""
        if space_id not in self.media:
            admit(self.mix_load(), self.mix_budget, spaces=1, speakers=1)

    def admit_speaker(self, space_id: str, user_id: int) -> None:
        """NodeFull (503) unless this node can mix one more speaker (and the Space, if
        its media is not running yet). A speaker reconnecting replaces their old
        connection, so costs nothing more."""
        if self.whip.find(space_id, user_id):
            return
        admit(self.mix_load(), self.mix_budget, speakers=1,
              spaces=0 if space_id in self.media else 1)

    # -- starting and stopping --------------------------------------------------------
    async def mixed_elsewhere(self, space_id: str) -> str | None:
        """Cluster: the URL of the other node that mixes this Space now, if one does."""
        if self.leases is None or space_id in self.media:
            return None
        owner = await self.leases.owner(space_id)
        return owner if owner and owner != self.leases.node else None

    async def node_with_room(self, spaces: int = 1, speakers: int = 1) -> str | None:
        """Cluster: the URL of another node with room to mix `spaces` more Spaces and
        `speakers` more speakers (the one with most room), or None."""
        if self.room is None:
            return None
        return await self.room.with_room(cost_of(spaces, speakers))

    async def _report_room(self) -> None:
        if self.room is not None:
            await self.room.report(self.mix_budget - self.mix_load().cost)

    async def start_media(self, space_id: str, recording: bool = True) -> SpaceMedia:
        """This node's media for the Space, started if needed. In a cluster it must own
        the Space's lease: MediaElsewhere names the node that does."""
        async with self._starting:
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
                media = SpaceMedia(space_id, self.store, self.recordings / space_id,
                                   recording=recording)
                media.on_recording_change = self._recording_changed
                if self.stream_edges is not None:
                    media.on_stream_chunk = self.stream_edges.publish
                await media.start()
                self.media[space_id] = media
                if self.captions is not None:
                    await self.captions.media_started(media)
                log.info("media started", extra={"space": space_id, "recording": recording})
            elif recording:
                media.recording = True  # the waiting room goes live: same stream, recorded
            return media

    async def open_waiting_room(self, space_id: str) -> bool:
        """Before a scheduled Space starts its stream already plays (silence, not
        "unavailable"); going live continues the same stream, so players never re-join.
        Under the Space's lock, so a cancel or go-live decided meanwhile cannot leave a
        waiting room behind. True if the Space's media now runs (here or its owner)."""
        if space_id in self.media:  # a join storm's requests after the first
            return True
        # Read in parallel first: requests for unknown or ended Spaces never queue.
        if not await threads.run(threads.DATABASE, self._about_to_start, space_id):
            return False
        async with self.locks.hold(space_id):
            if space_id in self.media:
                return True
            if not await threads.run(threads.DATABASE, self._about_to_start, space_id):
                return False
            with contextlib.suppress(MediaElsewhere):  # another node opened it first
                await self.start_media(space_id, recording=False)
            return True

    def _about_to_start(self, space_id: str) -> bool:
        """Scheduled, and starting within WAITING_ROOM_LEAD (or started late, within
        UPCOMING_GRACE): anyone's GET opens a waiting room only for a Space about to
        start, never for any scheduled Space (20 GETs once started 20 idle mixers)."""
        now = datetime.now(UTC)
        with self.db.session() as db:
            space = db.get(Space, space_id)
            if space is None or space.state != "scheduled":
                return False
            start = space.scheduled_start or space.created_at
        start = start.replace(tzinfo=UTC) if start.tzinfo is None else start
        return (now - timedelta(seconds=limits.UPCOMING_GRACE) <= start
                <= now + timedelta(seconds=limits.WAITING_ROOM_LEAD))

    async def stop_media(self, space_id: str) -> None:
        await self.whip.close_space(space_id)
        async with self._starting:
            media = self.media.pop(space_id, None)
        if media is None:
            return
        if self.captions is not None:
            # The final transcript follows a Space that ended, not a server going down.
            await self.captions.media_stopped(space_id, media.recording and not self._closing)
        await media.stop()
        log.info("media stopped", extra={"space": space_id, "parts": media.parts_published})
        if self.stream_edges is not None and not self._closing:
            # The Space ended: its listeners' streams at the edges end after its last chunk.
            self.stream_edges.end(space_id)
        # A Space that ended itself keeps nothing after its warning: nothing records any
        # more, so the files the replay left out can go.
        await threads.run(threads.MEDIA_FILES, prune_cut, media.recorder.directory)
        figures = await self.audience.finish(space_id, time.time())
        if self.more_figures is not None:
            figures = {**figures, **await self.more_figures(space_id)}
        await threads.run(threads.DATABASE, self._store_figures, space_id, figures)
        if self.leases is not None:
            await self.leases.release(space_id)

    def _store_figures(self, space_id: str, figures: dict[str, object]) -> None:
        with self.db.session() as db:
            space = db.get(Space, space_id)
            if space is not None:
                space.audience = figures

    async def _drop_media(self, space_id: str) -> None:
        """Stop this node's copy without ending the Space's playlist (the new owner
        continues it)."""
        await self.whip.close_space(space_id)
        async with self._starting:
            media = self.media.pop(space_id, None)
        if media is not None:
            if self.captions is not None:
                await self.captions.media_stopped(space_id, False)
            await media.abandon()

    def _recording_changed(self, space_id: str, error: str | None) -> None:
        """Tell the Space's clients (the host panel shows it) that recording stopped or
        resumed; live listening is not affected either way."""
        self.bus.publish(space_id, {"type": "recording", "error": error})

    # -- decisions become effects ----------------------------------------------------
    async def carry_out(self, space_id: str, events: tuple[Event, ...]) -> None:
        """What a Room decision means for media, under the Space's lock (the caller holds
        it). In a cluster the node owning the Space's media does it."""
        if space_id in self.media or self.leases is None:
            await self._apply_here(space_id, events)
        else:
            self.bus.send_control(space_id, {"type": "events",
                                             "events": [event_json(e) for e in events]})
            if any(isinstance(e, StateChanged) and e.state == "live" for e in events):
                with contextlib.suppress(MediaElsewhere):  # its waiting room records now
                    await self.start_media(space_id, recording=True)

    def _on_control(self, space_id: str, message: Message) -> None:
        if space_id not in self.media:
            return  # another node's Space
        if message.get("type") == "record":
            self.media[space_id].recording = True
        elif message.get("type") == "events":
            events = tuple(event_from_json(e) for e in message["events"])
            self._spawn(self._apply_locked(space_id, events))

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._effects.add(task)  # a strong reference until it is done
        task.add_done_callback(self._effects.discard)

    async def _apply_locked(self, space_id: str, events: tuple[Event, ...]) -> None:
        async with self.locks.hold(space_id):
            await self._apply_here(space_id, events)

    async def _apply_here(self, space_id: str, events: tuple[Event, ...]) -> None:
        for event in events:
            if isinstance(event, MuteChanged):
                self.whip.set_muted(space_id, event.user_id, event.muted)
            elif isinstance(event, Removed) or (
                isinstance(event, RoleChanged) and event.role == "listener"
            ):
                await self.whip.close_user(space_id, event.user_id)
            elif isinstance(event, RecordingCut) and space_id in self.media:
                await threads.run(threads.MEDIA_FILES, self.media[space_id].recorder.cut,
                                  datetime.fromisoformat(event.at))
            elif isinstance(event, StateChanged) and event.state == "live":
                with contextlib.suppress(MediaElsewhere):  # cluster: recorded where it runs
                    await self.start_media(space_id, recording=True)
            elif isinstance(event, StateChanged) and event.state in ("ended", "cancelled"):
                await self.stop_media(space_id)
            elif isinstance(event, CaptionsChanged) and self.captions is not None:
                await self.captions.switch(space_id, event.on)

    # -- what is on air ------------------------------------------------------------------
    def on_stage(self, space_id: str) -> set[int]:
        """Speakers connected over WHIP: here, or (cluster) on the node mixing the
        Space, as its newest "levels" event said (none once it is silent that long)."""
        if space_id in self.media or self.leases is None:
            return self.on_stage_here(space_id)
        heard_at, users = self.bus.stage_now.get(space_id, (0.0, frozenset()))
        return set(users) if time.monotonic() - heard_at <= LEASE_SECONDS else set()

    def on_stage_here(self, space_id: str) -> set[int]:
        return {r.user_id for r in list(self.whip.resources.values()) if r.space_id == space_id}

    async def on_air(self, space_id: str) -> bool:
        """Is the Space's media running, here or (cluster) on any node?"""
        if space_id in self.media:
            return True
        return self.leases is not None and await self.leases.owner(space_id) is not None

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

    # -- cluster: leases ---------------------------------------------------------------
    async def _keep_leases(self) -> None:
        """Cluster: renew this node's leases (a lost one means another node took the
        Space: stop here), and take over live Spaces whose owner died."""
        assert self.leases is not None
        live: set[str] = set()
        last_read = 0.0
        outage = Outage("media leases")
        # Since when Redis answers again after an outage: every owner gets a lease's time
        # to renew its own Spaces before anyone takes over one (the leases all lapsed
        # while Redis was away; the owners are alive and still mixing).
        back_since = time.monotonic()
        while True:
            await asyncio.sleep(RENEW_EVERY)
            try:
                for space_id in list(self.media):
                    # acquire = renew, or take it again if it vanished (Redis restarted
                    # empty); False only when another node holds it.
                    if not await self.leases.acquire(space_id):
                        log.warning("lost the media lease of %s; stopping here", space_id)
                        await self._under_lock(space_id, self._drop_media)
                await self._report_room()
                if time.monotonic() - last_read > LIVE_SPACES_EVERY:
                    live = await threads.run(threads.DATABASE, self._live_space_ids)
                    last_read = time.monotonic()
                    for space_id, media in list(self.media.items()):
                        if media.recording and space_id not in live:
                            # Ended while its end command was in flight to nobody.
                            await self._under_lock(space_id, self.stop_media)
                others = sorted(live - self.media.keys())
                owners = await self.leases.owners(others)  # one round trip for all
                if outage.ok():
                    back_since = time.monotonic()
                if time.monotonic() - back_since < LEASE_SECONDS + RENEW_EVERY:
                    continue
                for space_id in others:
                    if owners[space_id] is None:
                        if not await threads.run(threads.DATABASE, self._live_space_ids, space_id):
                            continue  # ended since the list was read
                        log.info("taking over live Space %s", space_id)
                        await self._under_lock(space_id, self.start_media)
            except MediaElsewhere:
                pass  # another node was quicker
            except BACKEND_ERRORS as exc:  # this node's Spaces keep playing meanwhile
                outage.failed(exc)
            except Exception:
                log.exception("keeping media leases failed")

    async def _under_lock(self, space_id: str, work: Callable[[str], Awaitable[object]]) -> None:
        async with self.locks.hold(space_id):
            await work(space_id)

    def _live_space_ids(self, only: str | None = None) -> set[str]:
        query = select(Space.id).where(Space.state == "live")
        if only is not None:
            query = query.where(Space.id == only)
        with self.db.session() as db:
            return set(db.scalars(query))

    async def close(self) -> None:
        self._closing = True
        if self._lease_keeper is not None:
            self._lease_keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lease_keeper
        await self.whip.close_all()
        for space_id in list(self.media):
            if self.leases is None:
                await self.stop_media(space_id)
            else:  # a cluster node leaving: another node takes the Space over
                await self._drop_media(space_id)
                await self.leases.release(space_id)
