"""Replays as files, clips, trims, deletion and retention: the use cases.

The rules are in townhall/domain/recordings.py; the remux in townhall/media/export.py.
Here: load, decide, persist, carry out (files), and present.

- **Exports** (the replay's .m4a, a clip's .m4a) are made on first request in the
  EXPORTS pool (townhall/threads.py: bounded, off the event loop), one at a time per
  file (a second request for the same one waits for the first), and kept under
  recordings/<space>/exports/ named by what they cover, so a new trim makes a new file
  and the old one is removed. Deleting the recording removes them with it.
- **Trim** is stored (model Recording) and honoured by the replay playlist (whole
  segments: the playlist cannot cut inside one), the .m4a (to the AAC frame) and the
  feed; the recorded files stay until the recording is deleted.
- **Retention**: every node looks every `retention_check_every` seconds; a replay
  `replay_retention_days` after its Space ended is deleted, the host having been told
  (in the app, kind "expiring") `replay_expiry_notice_days` before.
- **Transcripts**: the captions engineer's `transcript.json` in the recording's
  directory, read tolerantly (any missing or odd field: that cue, or the file, is
  skipped); a clip's captions are the cues overlapping it, shifted to its start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from townhall import limits, threads
from townhall.app import avatars, podcast
from townhall.app.outages import BACKEND_ERRORS, Outage
from townhall.app.presenters import UserRef
from townhall.config import Settings
from townhall.domain import recordings as rules
from townhall.domain.errors import Gone, NotFound
from townhall.domain.ids import SPACE_ID
from townhall.domain.recordings import Trim
from townhall.domain.room import Room, SpaceState
from townhall.media import export
from townhall.media.llhls import render_vod
from townhall.media.recorder import recorded_segments
from townhall.store import follows as notifications
from townhall.store import recordings as store
from townhall.store import rooms as room_store
from townhall.store import search
from townhall.store.db import Database
from townhall.store.models import Clip, Space, User

log = logging.getLogger(__name__)

EXPIRING = "expiring"  # the notification kind: your replay will be deleted soon
EXPORTS_DIR = "exports"
TRANSCRIPT_NAME = "transcript.json"
CLIP_ID_BYTES = 8


def utcnow() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


# -- what the API sends ------------------------------------------------------------------
class RecordingOut(BaseModel):
    """A Space's recording as this viewer sees it. Times are seconds on the recording's
    timeline; `playlist_start` is where the (trimmed) replay playlist begins on it, so a
    player's position p is the recording's second playlist_start + p."""

    space_id: str
    status: str  # "recording" (live), "available", "deleted", "none"
    deleted_by: str | None  # "host" or "retention" when deleted
    duration: float  # the whole recording
    trim_start: float
    trim_end: float | None
    playlist_start: float
    replay_seconds: float  # what plays after the trim
    download_url: str | None  # the .m4a (a private Space's is signed, like its stream)
    expires_at: datetime | None
    can: list[str]


class ClipOut(BaseModel):
    id: str
    space_id: str
    space_title: str
    host: UserRef
    maker: UserRef
    title: str
    start: float
    end: float
    duration: float
    created_at: datetime
    page_url: str
    audio_url: str
    captions_url: str
    private: bool
    can: list[str]


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    speaker: str
    text: str


# -- transcripts -------------------------------------------------------------------------
def read_transcript(directory: Path) -> list[Cue] | None:
    """The final transcript's cues, or None when there is none (yet)."""
    try:
        data = json.loads((directory / TRANSCRIPT_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("segments"), list):
        return None
    cues = []
    for segment in data["segments"]:
        try:
            start, end = float(segment["start"]), float(segment["end"])
            text = str(segment.get("text", "")).strip()
        except (KeyError, TypeError, ValueError):
            continue
        if text and math.isfinite(start) and math.isfinite(end) and end > start:
            cues.append(Cue(start, end, str(segment.get("speaker") or ""), text))
    return cues


def cues_between(cues: list[Cue], start: float, end: float) -> list[Cue]:
    """The cues overlapping [start, end], shifted so `start` is 0 and cut to the clip."""
    return [Cue(max(0.0, c.start - start), min(end, c.end) - start, c.speaker, c.text)
            for c in cues if c.end > start and c.start < end]


def _timestamp(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def webvtt(cues: list[Cue]) -> str:
    lines = ["WEBVTT", ""]
    for cue in cues:
        text = cue.text.replace("-->", "->")
        if cue.speaker:
            text = f"<v {cue.speaker.replace('>', '')}>{text}"
        lines += [f"{_timestamp(cue.start)} --> {_timestamp(cue.end)}", text, ""]
    return "\n".join(lines)


# -- files ---------------------------------------------------------------------------------
def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def trimmed_playlist(directory: Path, trim: Trim, target_duration: int) -> tuple[str, float] | None:
    """The replay playlist with whole segments outside the trim left out, and where it
    starts on the recording's timeline (a segment is kept if any of it is inside)."""
    segments = recorded_segments(directory)
    if not segments:
        return None
    first, last = trim.bounds(sum(s[1] for s in segments))
    kept, at, starts = [], 0.0, None
    for segment in segments:
        if at + segment[1] > first and at < last:
            kept.append(segment)
            starts = at if starts is None else starts
        at += segment[1]
    if not kept:
        return None
    return render_vod(kept, target_duration), starts or 0.0


def playlist_start(directory: Path, trim: Trim) -> float:
    at = 0.0
    for span in export.timeline(directory):
        if span.end > trim.start:
            return span.start
        at = span.end
    return at


class Recordings:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self._making: dict[Path, asyncio.Lock] = {}
        self._task: asyncio.Task[None] | None = None
        self._outage = Outage("retention")
        # Told who got an in-app notification (the bells), as the notifier does.
        self.on_written: Callable[[list[int]], None] | None = None

    def directory(self, space_id: str) -> Path:
        if not SPACE_ID.fullmatch(space_id):
            raise NotFound("no such Space")
        return self.settings.recordings_path / space_id

    # -- reading ---------------------------------------------------------------------------
    def trim_of(self, space_id: str) -> tuple[Trim, bool]:
        """The trim and whether the recording is deleted (blocking: the database)."""
        with self.db.session() as db:
            row = store.recording(db, space_id)
            if row is None:
                return Trim(), False
            return Trim(row.trim_start, row.trim_end), row.deleted_at is not None

    def info(self, space_id: str, viewer: int | None, download_base: str | None,
             on_air: bool) -> RecordingOut:
        """Blocking (the database, the index file): call in a worker thread."""
        with self.db.session() as db:
            space, room = room_store.load(db, space_id)
            room.authorize("view", viewer)
            row = store.recording(db, space_id)
            trim = Trim(row.trim_start, row.trim_end) if row is not None else Trim()
            deleted = row is not None and row.deleted_at is not None
            notified = _utc(row.expiry_notified_at) if row is not None else None
            ended_at = _utc(space.ended_at)
            taken_down = space.taken_down is not None
        directory = self.directory(space_id)
        duration = 0.0 if deleted else export.recorded_seconds(directory)
        if deleted:
            status = "deleted"
        elif duration <= 0 or taken_down:
            status = "none"
        elif room.state == SpaceState.LIVE or on_air:
            status = "recording"
        else:
            status = "available"
        first, last = trim.bounds(duration)
        available = status in ("recording", "available")
        can = rules.recording_actions(room, viewer, available)
        expires = None
        if status == "available":
            expires = rules.expires_at(ended_at, self.settings.replay_retention_days,
                                       self.settings.replay_expiry_notice_days, notified)
        return RecordingOut(
            space_id=space_id, status=status,
            deleted_by=row.deleted_by if deleted and row is not None else None,
            duration=round(duration, 3), trim_start=trim.start, trim_end=trim.end,
            playlist_start=round(playlist_start(directory, trim), 3) if available else 0.0,
            replay_seconds=round(max(0.0, last - first), 3),
            download_url=(f"{download_base}/replay.m4a"
                          if "download" in can and download_base else None),
            expires_at=expires, can=can)

    # -- exports -------------------------------------------------------------------------
    async def replay_file(self, space_id: str) -> export.Exported:
        """The ended Space's replay (trimmed) as .m4a, made once per trim."""
        trim, deleted = await threads.run(threads.DATABASE, self.trim_of, space_id)
        rules.check_available(deleted)
        directory = self.directory(space_id)
        spans = await threads.run(threads.FILES, export.timeline, directory)
        if not spans:
            raise NotFound("no recording for this Space")
        first, last = trim.bounds(spans[-1].end)
        name = f"replay-{_ms(first)}-{_ms(last)}-{spans[-1].msn}.m4a"
        return await self._export(directory, first, last, name, prefix="replay-")

    async def clip_file(self, clip: ClipOut) -> export.Exported:
        directory = self.directory(clip.space_id)
        name = f"clip-{_ms(clip.start)}-{_ms(clip.end)}.m4a"
        return await self._export(directory, clip.start, clip.end, name)

    async def _export(self, directory: Path, start: float, end: float, name: str,
                      prefix: str | None = None) -> export.Exported:
        target = directory / EXPORTS_DIR / name
        lock = self._making.setdefault(target, asyncio.Lock())
        try:
            async with lock:
                made = await threads.run(threads.FILES, _made, target)
                if made is not None:
                    return made
                try:
                    done = await threads.run(threads.EXPORTS, export.export_m4a, directory,
                                             start, end, target)
                except (export.NothingRecorded, FileNotFoundError):
                    raise NotFound("nothing was recorded there") from None
                if prefix is not None:  # an older trim's file is of no more use
                    await threads.run(threads.FILES, _remove_others, target, prefix)
                return done
        finally:
            if not lock.locked() and self._making.get(target) is lock:
                del self._making[target]

    # -- clips ---------------------------------------------------------------------------
    def create_clip(self, space_id: str, viewer: int, start: float | None, end: float | None,
                    last: float | None, title: str, base: str) -> ClipOut:
        """Blocking: call in a worker thread."""
        with self.db.session() as db:
            space, room = room_store.load(db, space_id)
            rules.check_may_clip(room, viewer)
            if space.taken_down is not None:
                raise Gone("An operator took this replay down.", code="taken_down")
            row = store.recording(db, space_id)
            rules.check_available(row is not None and row.deleted_at is not None)
            trim = Trim(row.trim_start, row.trim_end) if row is not None else Trim()
            recorded = export.recorded_seconds(self.directory(space_id))
            first, final = rules.clip_range(room, recorded, trim, start, end, last)
            clip = Clip(id=secrets.token_urlsafe(CLIP_ID_BYTES), space_id=space_id,
                        maker_id=viewer, start=round(first, 3), end=round(final, 3),
                        title=title.strip())
            db.add(clip)
            db.flush()
            return self._clip_out(db, clip, space, room, viewer, base)

    def clip(self, clip_id: str, viewer: int | None, base: str) -> ClipOut:
        """Blocking. A private Space's clip is for its members only (others: 403, or
        404 for an id that names nothing)."""
        with self.db.session() as db:
            clip = store.clip(db, clip_id) if SPACE_ID.fullmatch(clip_id) else None
            if clip is None:
                raise NotFound("no such clip (it may have been deleted)")
            space, room = room_store.load(db, clip.space_id)
            room.authorize("listen", viewer)
            if space.taken_down is not None:
                raise Gone("An operator took this replay down, and its clips with it.",
                           code="taken_down")
            return self._clip_out(db, clip, space, room, viewer, base)

    def clips_of(self, space_id: str, viewer: int | None, base: str) -> list[ClipOut]:
        with self.db.session() as db:
            space, room = room_store.load(db, space_id)
            room.authorize("listen", viewer)
            if space.taken_down is not None:
                return []
            return [self._clip_out(db, clip, space, room, viewer, base)
                    for clip in store.clips_of(db, space_id, limits.CLIPS_LISTED)]

    def delete_clip(self, clip_id: str, viewer: int | None) -> None:
        with self.db.session() as db:
            clip = store.clip(db, clip_id) if SPACE_ID.fullmatch(clip_id) else None
            if clip is None:
                raise NotFound("no such clip (it may have been deleted)")
            _, room = room_store.load(db, clip.space_id)
            room.authorize("view", viewer)
            rules.check_may_delete_clip(room, viewer, clip.maker_id)
            space_id, start, end = clip.space_id, clip.start, clip.end
            db.delete(clip)
        # Its file, unless another clip covers exactly the same stretch.
        self._forget_export(space_id, f"clip-{_ms(start)}-{_ms(end)}.m4a")

    def _forget_export(self, space_id: str, name: str) -> None:
        with self.db.session() as db:
            for other in store.clips_of(db, space_id, 10**6):
                if f"clip-{_ms(other.start)}-{_ms(other.end)}.m4a" == name:
                    return
        with contextlib.suppress(OSError):
            (self.directory(space_id) / EXPORTS_DIR / name).unlink()

    def clip_captions(self, clip: ClipOut) -> str:
        cues = read_transcript(self.directory(clip.space_id)) or []
        return webvtt(cues_between(cues, clip.start, clip.end))

    def _clip_out(self, db: Any, clip: Clip, space: Space, room: Room, viewer: int | None,
                  base: str) -> ClipOut:
        maker, host = db.get(User, clip.maker_id), db.get(User, space.host_id)
        return ClipOut(
            id=clip.id, space_id=space.id, space_title=space.title,
            host=UserRef.of(host), maker=UserRef.of(maker), title=clip.title,
            start=clip.start, end=clip.end, duration=round(clip.end - clip.start, 3),
            created_at=_utc(clip.created_at), page_url=f"{base}/c/{clip.id}",
            audio_url=f"{base}/api/clips/{clip.id}/audio.m4a",
            captions_url=f"{base}/api/clips/{clip.id}/captions.vtt",
            private=room.private, can=rules.clip_actions(room, viewer, clip.maker_id))

    # -- the host's trim and deletion ------------------------------------------------------
    def trim(self, space_id: str, viewer: int | None, start: float, end: float | None) -> None:
        with self.db.session() as db:
            _, room = room_store.load(db, space_id, for_update=True)
            rules.check_host(room, viewer, "trim the recording")
            row = store.recording_for_update(db, space_id)
            rules.check_available(row.deleted_at is not None)
            recorded = export.recorded_seconds(self.directory(space_id))
            trim = rules.check_trim(recorded, start, end)
            row.trim_start, row.trim_end = trim.start, trim.end

    def delete(self, space_id: str, viewer: int | None, by: str = "host") -> None:
        with self.db.session() as db:
            _, room = room_store.load(db, space_id, for_update=True)
            if by == "host":
                rules.check_host(room, viewer, "delete the recording")
            self._mark_deleted(db, space_id, by)
        self.remove_files(space_id)

    def _mark_deleted(self, db: Any, space_id: str, by: str) -> None:
        row = store.recording_for_update(db, space_id)
        rules.check_available(row.deleted_at is not None)
        row.deleted_at, row.deleted_by = _naive(utcnow()), by
        store.delete_clips_of(db, space_id)
        search.forget_transcript(db, space_id)  # its words no longer find the Space

    def remove_files(self, space_id: str) -> None:
        directory = self.directory(space_id)
        shutil.rmtree(directory, ignore_errors=True)
        if directory.exists():
            log.error("recording of %s could not be removed entirely", space_id)

    # -- the podcast feed -----------------------------------------------------------------
    def _feed_rows(self, username: str) -> tuple[User, list[tuple[Space, Trim]]]:
        with self.db.session() as db:
            user = db.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFound(f"Nobody is called @{username}.")
            rows = store.replays_of(db, user.id, limits.MAX_FEED_ITEMS)
            db.expunge_all()
            return user, [(space, Trim(row.trim_start, row.trim_end) if row else Trim())
                          for space, row in rows]

    async def feed(self, username: str, base: str) -> bytes:
        """The host's podcast feed (townhall/app/podcast.py): their public replays."""
        user, rows = await threads.run(threads.DATABASE, self._feed_rows, username)
        episodes = []
        for space, trim in rows:
            directory = self.directory(space.id)
            spans = await threads.run(threads.FILES, export.timeline, directory)
            if not spans:
                continue  # nothing was recorded
            try:
                made = await self.replay_file(space.id)
            except (NotFound, Gone):
                continue
            first, last = trim.bounds(spans[-1].end)
            has_transcript = await threads.run(threads.FILES, read_transcript, directory)
            published = _utc(space.ended_at or space.started_at or space.created_at)
            episodes.append(podcast.Episode(
                space_id=space.id, title=space.title, description=space.description,
                page_url=f"{base}/s/{space.id}", audio_url=f"{base}/hls/{space.id}/replay.m4a",
                audio_bytes=made.size, seconds=last - first, published=published,  # type: ignore[arg-type]
                transcript_url=(f"{base}/api/spaces/{space.id}/transcript.vtt"
                                if has_transcript is not None else None)))
        large, _ = avatars.urls(user.id, user.avatar_version, user.display_name or "",
                                user.username)
        show = podcast.Show(username=user.username, name=user.display_name or user.username,
                            about=user.bio, profile_url=f"{base}/u/{user.username}",
                            feed_url=f"{base}/u/{user.username}/feed.xml",
                            image_url=large if large.startswith("http") else f"{base}{large}")
        return podcast.render_feed(show, episodes)

    # -- retention -------------------------------------------------------------------------
    def start(self) -> None:
        if self.settings.replay_retention_days > 0:
            self._task = asyncio.create_task(self._every(), name="retention")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _every(self) -> None:
        while True:
            await asyncio.sleep(self.settings.retention_check_every)
            try:
                await self.sweep(utcnow())
                self._outage.ok()
            except BACKEND_ERRORS as exc:
                self._outage.failed(exc)
            except Exception:
                log.exception("retention check failed")

    async def sweep(self, now: datetime) -> tuple[list[str], list[str]]:
        """Tell hosts whose replays expire soon, delete the expired: (told, deleted)."""
        told, deleted, hosts = await threads.run(threads.DATABASE, self._sweep, now)
        if hosts and self.on_written is not None:
            self.on_written(hosts)
        for space_id in deleted:
            await threads.run(threads.FILES, self.remove_files, space_id)
            log.info("retention: replay of %s deleted", space_id, extra={"space": space_id})
        return told, deleted

    def _sweep(self, now: datetime) -> tuple[list[str], list[str], list[int]]:
        retention = self.settings.replay_retention_days
        notice = self.settings.replay_expiry_notice_days
        ended_before = _naive(now - timedelta(days=max(0.0, retention - notice)))
        notified_before = _naive(now - timedelta(days=notice))
        told, deleted, hosts = [], [], []
        with self.db.session() as db:
            for space, row in store.retention_candidates(db, ended_before, notified_before,
                                                         limits.RETENTION_BATCH):
                notified = _utc(row.expiry_notified_at) if row is not None else None
                step = rules.retention_step(_utc(space.ended_at), retention, notice,
                                            notified, now)
                if step == "notify":
                    store.recording_for_update(db, space.id).expiry_notified_at = _naive(now)
                    notifications.add(db, [space.host_id], EXPIRING, space.id, None)
                    told.append(space.id)
                    hosts.append(space.host_id)
                elif step == "delete":
                    self._mark_deleted(db, space.id, "retention")
                    deleted.append(space.id)
        return told, deleted, hosts


def _made(target: Path) -> export.Exported | None:
    try:
        size = target.stat().st_size
    except FileNotFoundError:
        return None
    return export.Exported(target, 0.0, size)


def _remove_others(target: Path, prefix: str) -> None:
    for other in target.parent.glob(f"{prefix}*.m4a"):
        if other != target:
            with contextlib.suppress(OSError):
                other.unlink()


__all__ = ["ClipOut", "RecordingOut", "Recordings", "read_transcript", "trimmed_playlist",
           "webvtt"]
