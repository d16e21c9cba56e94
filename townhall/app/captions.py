"""Live captions and transcripts on this node: which Spaces are captioned, who said
what, and the final pass after a Space ends.

A Space is captioned while it is on air here, its Room has captions on (the default; a
host or co-host switches them: Room.set_captions), the model is installed, and the node
is under its cap (Settings.captioned_spaces_cap). Each caption is labelled with the
speaker the mixer heard it from (the WHIP resource's user: no diarization), published
as a `caption` event on the Space's bus (feeds.py sends it to whoever may view the
Space), put in the WebVTT rendition (final ones) and, while recording, kept in the
recording directory for the transcript (townhall/media/captions/transcript.py). The final
transcript's words are then indexed for search (townhall/store/search.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from townhall import limits, threads
from townhall.backends.bus import EventBus
from townhall.config import Settings
from townhall.media.captions import engine
from townhall.media.captions.pipeline import Caption, CaptionPipeline
from townhall.media.captions.transcript import (SpokenLine, Transcript, live_transcript,
                                                load_transcript, log_caption,
                                                read_caption_log, run_final_pass)
from townhall.media.space_media import SpaceMedia
from townhall.media.webrtc.whip import WhipEndpoint
from townhall.store import recordings as recording_store
from townhall.store import search
from townhall.store.db import Database
from townhall.store.models import Space, User

log = logging.getLogger(__name__)

AT_CAPACITY = ("captions are off: this server is already captioning as many Spaces as it "
               "can ({cap}); they start when another captioned Space ends")


@dataclass(frozen=True)
class CaptionState:
    on: bool  # the Room's switch
    running: bool  # captions are being made now
    reason: str | None  # why not, when on but not running


class Captioner:
    def __init__(self, settings: Settings, db: Database, bus: EventBus, whip: WhipEndpoint,
                 recordings: Path) -> None:
        self.settings = settings
        self.db = db
        self.bus = bus
        self.whip = whip
        self.recordings = recordings
        self.cap = settings.captioned_spaces_cap
        self.unavailable = (None if settings.captions else "captions are disabled on this server")
        self.unavailable = self.unavailable or engine.available(settings.captions_model_dir)
        if self.unavailable:
            log.info("live captions off: %s", self.unavailable)
        self.running: dict[str, CaptionPipeline] = {}
        self._media: dict[str, SpaceMedia] = {}
        self._wanted: dict[str, bool] = {}
        self._reasons: dict[str, str] = {}
        self._names: dict[int, str] = {}
        self._lines: dict[str, int] = {}  # next line number of each Space's captions log
        self._passes = asyncio.Semaphore(limits.TRANSCRIPT_PASSES)
        self._tasks: set[asyncio.Task[Any]] = set()
        # Set by tests and benchmarks: called with (space_id, caption event) on the loop.
        self.on_caption: Callable[[str, dict[str, Any]], None] | None = None

    # -- state ---------------------------------------------------------------------------
    def state(self, space_id: str, on: bool) -> CaptionState:
        running = space_id in self.running
        reason = None
        if on and not running:
            reason = self.unavailable or self._reasons.get(space_id)
        return CaptionState(on, running, reason)

    def status(self, space_id: str) -> dict[str, Any]:
        pipeline = self.running.get(space_id)
        return pipeline.status() if pipeline is not None else {"running": False}

    # -- media on and off ------------------------------------------------------------------
    async def media_started(self, media: SpaceMedia) -> None:
        """The Space's media runs here: caption it if its Room wants and there is room."""
        self._media[media.space_id] = media
        on = await threads.run(threads.DATABASE, self._room_wants, media.space_id)
        await self.switch(media.space_id, on)

    async def switch(self, space_id: str, on: bool) -> None:
        """The Room's switch (under the Space's lock, or at media start)."""
        self._wanted[space_id] = on
        media = self._media.get(space_id)
        if media is None:
            return
        if not on:
            await self._stop(space_id, media)
        elif space_id not in self.running:
            await self._start(space_id, media)
        self._publish_state(space_id)

    async def _start(self, space_id: str, media: SpaceMedia) -> None:
        if self.unavailable:
            return
        if len(self.running) >= self.cap:
            self._reasons[space_id] = AT_CAPACITY.format(cap=self.cap)
            log.warning("not captioning %s: at the node's cap (%d)", space_id, self.cap)
            return
        self._reasons.pop(space_id, None)
        source = engine.model_source(self.settings.captions_model_dir)
        loop = asyncio.get_running_loop()
        pipeline = CaptionPipeline(
            source, loop, lambda c: self._caption(space_id, c),
            lambda status: self.bus.publish(space_id, {"type": "captions", **status}),
            name=f"captions-{space_id}")
        self.running[space_id] = pipeline
        if space_id not in self._lines:
            self._lines[space_id] = await threads.run(
                threads.MEDIA_FILES, lambda: len(read_caption_log(self.recordings / space_id)))
        await media.start_captions(pipeline)
        log.info("captioning %s", space_id)

    async def _stop(self, space_id: str, media: SpaceMedia) -> None:
        pipeline = media.detach_captions()
        self.running.pop(space_id, None)
        if pipeline is not None:
            # Its last utterances are still decoded (and kept); nobody waits for it.
            self._spawn(asyncio.to_thread(pipeline.stop))
        await self._start_waiting()

    async def media_stopped(self, space_id: str, recorded: bool) -> None:
        """The Space's media stopped here (ended, or moved to another node)."""
        media = self._media.pop(space_id, None)
        self._reasons.pop(space_id, None)
        wanted = self._wanted.pop(space_id, False)
        pipeline = media.detach_captions() if media is not None else None
        self.running.pop(space_id, None)
        if pipeline is not None or (recorded and wanted):
            self._spawn(self._finish(space_id, pipeline, recorded))
        await self._start_waiting()

    async def _start_waiting(self) -> None:
        """A place came free: the Spaces that wanted captions get it, oldest first."""
        for space_id, media in list(self._media.items()):
            if len(self.running) >= self.cap:
                return
            if self._wanted.get(space_id) and space_id not in self.running:
                await self._start(space_id, media)
                self._publish_state(space_id)

    async def _finish(self, space_id: str, pipeline: CaptionPipeline | None,
                      recorded: bool) -> None:
        if pipeline is not None:
            await asyncio.to_thread(pipeline.stop)
        if recorded and not self.unavailable:
            await self.final_pass(space_id)

    async def final_pass(self, space_id: str) -> Transcript | None:
        """The transcript after the Space (one pass at a time on a node)."""
        directory = self.recordings / space_id
        async with self._passes:
            try:
                source = engine.model_source(self.settings.captions_model_dir)
                transcript = await asyncio.to_thread(run_final_pass, directory, source)
            except Exception:
                log.exception("final transcript of %s failed; the live one stays", space_id)
                return None
        log.info("final transcript of %s: %d lines", space_id, len(transcript.segments))
        try:
            await threads.run(threads.DATABASE, self._index_transcript, space_id,
                              transcript.text())
        except Exception:
            log.exception("final transcript of %s not made searchable", space_id)
        return transcript

    def _index_transcript(self, space_id: str, text: str) -> None:
        """Its words find the Space in search (unless its recording was deleted
        meanwhile: then they are gone with it)."""
        with self.db.session() as db:
            row = recording_store.recording(db, space_id)
            if row is None or row.deleted_at is None:
                search.index_transcript(db, space_id, text)

    # -- captions in ------------------------------------------------------------------------
    def _caption(self, space_id: str, caption: Caption) -> None:
        self._spawn(self._publish_caption(space_id, caption))

    async def _publish_caption(self, space_id: str, caption: Caption) -> None:
        resource = self.whip.resources.get(caption.speaker)
        user_id = resource.user_id if resource is not None else None
        name = await self._name(user_id) if user_id is not None else "Speaker"
        media = self._media.get(space_id)
        event = {"type": "caption", "speaker_id": user_id, "speaker": name,
                 "utterance": f"{caption.speaker}:{caption.utterance}", "text": caption.text,
                 "final": caption.final, "start": round(caption.start, 3),
                 "end": round(caption.end, 3), "delay": round(caption.delay, 3)}
        if caption.text:
            self.bus.publish(space_id, event)
            if self.on_caption is not None:
                self.on_caption(space_id, event)
        if not caption.final or media is None:
            return
        media.add_cue(caption, name)
        if media.recording and caption.text:
            n = self._lines.get(space_id, 0)
            self._lines[space_id] = n + 1
            line = SpokenLine(n, media.caption_time(caption.start), media.caption_time(caption.end),
                              user_id, name, caption.text)
            await threads.run(threads.MEDIA_FILES, log_caption, self.recordings / space_id,
                              line, caption.audio)

    async def _name(self, user_id: int) -> str:
        name = self._names.get(user_id)
        if name is None:
            name = await threads.run(threads.DATABASE, self._read_name, user_id)
            self._names[user_id] = name
        return name

    def _read_name(self, user_id: int) -> str:
        with self.db.session() as db:
            user = db.get(User, user_id)
            return (user.display_name or user.username) if user is not None else "Speaker"

    def _room_wants(self, space_id: str) -> bool:
        with self.db.session() as db:
            space = db.get(Space, space_id)
            return space is None or bool((space.room or {}).get("captions", True))

    def _publish_state(self, space_id: str) -> None:
        state = self.state(space_id, self._wanted.get(space_id, True))
        self.bus.publish(space_id, {"type": "captions", "on": state.on,
                                    "running": state.running, "reason": state.reason})

    # -- transcripts out ----------------------------------------------------------------------
    def transcript(self, space_id: str) -> Transcript | None:
        """Blocking (files): the final transcript, else the live one so far."""
        directory = self.recordings / space_id
        found = load_transcript(directory)
        if found is not None:
            return found
        live = live_transcript(directory, "live captions")
        return live if live.segments else None

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for space_id in list(self._media):
            await self.media_stopped(space_id, recorded=False)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=15)
