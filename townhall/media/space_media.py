"""One live Space's media: sources -> mixer thread -> parts -> store + recording."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol
from datetime import UTC, datetime, timedelta
from pathlib import Path

import m3u8

from townhall.media.captions.pipeline import Caption, CaptionPipeline
from townhall.media.captions.vtt import (SUBS_PLAYLIST_NAME, Cue, SubtitleSegment,
                                         SubtitleTrack)
from townhall.media.encoder import EncodedPart
from townhall.media import dash, listen_stream
from townhall.media.llhls import INIT_NAME, LivePlaylist, Segment, wall_time
from townhall.media.recorder import Recorder, recorded_segments
from townhall.media.segment_store import PlaylistSnapshot, SegmentStore
from townhall.media.sources import SpeakerInput
from townhall.media.worker import MixerWorker, Source
from townhall import limits, threads

log = logging.getLogger(__name__)


class MixMinusOutput(Protocol):
    """Where a speaker's mix-minus goes: fed on the loop each tick, stopped on leaving."""

    def feed(self, packet: bytes) -> None: ...  # one Opus packet (20 ms)

    def stop(self) -> None: ...

# In the recording directory: the newest segment this Space's stream began, so a run
# after a crash never reuses a media name (edges cache them as immutable).
STARTED_SEGMENT_FILE = "started-segment"
# Objects for segments older than the playlist window (plus this margin, for players a
# little behind) are removed from the live store; the recording still has them.
EVICTION_MARGIN_SEGMENTS = 2


class SpaceMedia:
    def __init__(
        self, space_id: str, store: SegmentStore, recording_dir: Path, recording: bool = True
    ) -> None:
        self.space_id = space_id
        # A waiting room (before the host goes live) streams but does not record.
        self.recording = recording
        self.store = store
        self.recorder = Recorder(recording_dir)
        # Where the stream starts is read from the recording directory in start(): the
        # disk is never touched on the event loop.
        self._resumed = False
        self.playlist = LivePlaylist()
        # The WebVTT rendition beside the audio (empty segments while nobody is captioned).
        self.subtitles = SubtitleTrack(self.playlist.target_duration,
                                       self.playlist.window_segments)
        self._segment_starts: dict[int, int] = {}  # msn -> its first sample
        self._subs_names: dict[int, str] = {}  # subtitle segments in the store, by msn
        self.captions: CaptionPipeline | None = None
        self.outputs: dict[str, MixMinusOutput] = {}
        # Sources the server itself plays (the demo voice): a Space with one is never
        # without its host (townhall/app/lifecycle.py).
        self.house_sources: set[str] = set()
        self.parts_published = 0
        self._queue: asyncio.Queue[list[EncodedPart] | None] = asyncio.Queue()
        self._segment_bytes: list[bytes] = []
        self._names_by_msn: dict[int, list[str]] = {}
        self._origin = datetime.now(UTC)
        self._init_written = False
        # The LL-DASH periods (townhall/media/dash.py): earlier runs' and then this one's.
        self._dash_runs: list[dash.Run] = []
        self._dash_run_started = False
        self._init_recorded = False
        self._recorded_a_segment = False
        self._reported: str | None = None
        # Called with the recording error when recording stops, and None when it resumes.
        self.on_recording_change: Callable[[str, str | None], None] | None = None
        # Called with each stream chunk (townhall/media/listen_stream.py) as it is made,
        # on the loop: the edges' publisher takes it without waiting.
        self.on_stream_chunk: Callable[[str, bytes], None] | None = None
        self._stream_parts: list[bytes] = []
        self._worker: MixerWorker | None = None
        self._publisher: asyncio.Task[None] | None = None
        self.stopped = asyncio.Event()

    async def start(self) -> None:
        first_msn, self._resumed = await threads.run(threads.MEDIA_FILES, _first_msn, self.recorder.directory)
        self.playlist.first_msn = first_msn
        await self._continue_live_playlist()
        loop = asyncio.get_running_loop()
        self._worker = MixerWorker(
            loop, self._deliver_mix_minus, self._queue.put_nowait, name=f"mixer-{self.space_id}"
        )
        self._origin = datetime.now(UTC)
        self._publisher = asyncio.create_task(self._publish_loop())
        await self._publish_subtitles([])  # an empty subtitles playlist to begin with
        self._worker.start()

    async def _continue_live_playlist(self) -> None:
        """Another run left this Space's playlist in a shared store (the node that owned
        it died): keep its segments in the window and go on after them, one
        discontinuity later, so players keep playing instead of finding an empty
        playlist. The segment it was making is closed from the parts it published (and
        recorded): only the outage itself is missing."""
        previous = await self.store.playlist(self.space_id)
        if previous is None or previous.ended or previous.position is None:
            return
        try:
            self._dash_runs = dash.load_runs(await self.store.get(self.space_id, dash.RUNS_NAME))
        except (ValueError, KeyError, TypeError):  # unreadable: DASH players start afresh
            log.exception("could not read %s's DASH runs", self.space_id)
        try:
            carried = await self._carried_segments(previous)
        except Exception:  # a playlist we cannot read back must not stop the Space
            log.exception("could not carry %s's playlist over", self.space_id)
            carried = []
        if not carried or carried[-1].msn != previous.position.msn:
            # Could not close the unfinished segment: start after it, without the window.
            carried = []
            self.playlist.first_msn = max(self.playlist.first_msn, previous.position.msn + 1)
        self.playlist.continue_after(carried, previous.discontinuity_sequence)
        self._resumed = True

    async def _carried_segments(self, previous: PlaylistSnapshot) -> list[Segment]:
        parsed = m3u8.loads(previous.text)
        carried: list[Segment] = []
        start: datetime | None = None
        for offset, listed in enumerate(parsed.segments):
            msn = parsed.media_sequence + offset
            # m3u8 drops the date of a trailing parts-only segment: it follows on.
            start = listed.program_date_time or start
            if start is None:
                return []
            if listed.uri:
                carried.append(Segment(msn, start, complete=True, carried_duration=listed.duration,
                                       discontinuity=listed.discontinuity))
            elif listed.parts:
                closed = await self._close_unfinished(msn, start, listed.parts)
                if closed is None:
                    return []
                carried.append(closed)
            start = start + timedelta(seconds=carried[-1].duration) if carried else start
        return carried

    async def _close_unfinished(self, msn: int, start: datetime, parts: list) -> Segment | None:  # type: ignore[type-arg]
        data = [await self.store.get(self.space_id, part.uri) for part in parts]
        if any(d is None for d in data):
            return None
        segment = Segment(msn, start, complete=True,
                          carried_duration=sum(part.duration for part in parts))
        joined = b"".join(data)  # type: ignore[arg-type]
        await self.store.put(self.space_id, segment.name, joined)
        if self.recording:
            await threads.run(threads.MEDIA_FILES, self._record_carried, msn, joined, segment.duration, start)
        return segment

    def _record_carried(self, msn: int, data: bytes, duration: float, start: datetime) -> None:
        """In a worker thread: the disk is never touched on the event loop."""
        if self.recorder.directory.exists():
            # Same encoder timeline as the segments before it: not a restart.
            self.recorder.write_segment(msn, data, duration, start)

    @property
    def worker(self) -> MixerWorker:
        assert self._worker is not None, "start() first"
        return self._worker

    def add_source(self, key: str, source: Source) -> None:
        """A speaker without a return path (the demo voice, a file)."""
        self.worker.add_source(key, source, wants_mix_minus=False)
        self.house_sources.add(key)

    def speaking_levels(self) -> dict[str, float]:
        return dict(self.worker.levels) if self._worker is not None else {}

    def add_speaker(self, key: str, output: MixMinusOutput) -> SpeakerInput:
        """A speaker with a return path: their mix-minus goes to `output` every tick
        (a WebRTC track, townhall.media.webrtc.tracks.MixMinusTrack)."""
        speaker_input = SpeakerInput()
        self.outputs[key] = output
        self.worker.add_source(key, speaker_input, wants_mix_minus=True)
        return speaker_input

    def remove_speaker(self, key: str) -> None:
        self.worker.remove_source(key)
        output = self.outputs.pop(key, None)
        if output is not None:
            output.stop()

    async def stop(self) -> None:
        """Stop mixing, publish the last parts, end the playlist with EXT-X-ENDLIST."""
        if not await self._stop_mixing():
            return
        last = self.playlist.end()
        if last is not None:
            await self._complete_segment(last)
        if self._stream_parts and self.on_stream_chunk is not None:  # the last, short chunk
            self.on_stream_chunk(self.space_id, b"".join(self._stream_parts))
        self._stream_parts = []
        await self._publish_subtitles(self.subtitles.end())
        await self._publish_playlist()
        self.stopped.set()

    async def abandon(self) -> None:
        """Stop mixing without ending the playlist: another node continues it (cluster
        failover or a node leaving)."""
        if await self._stop_mixing():
            self.stopped.set()

    async def _stop_mixing(self) -> bool:
        """Stop the mixer and publish the parts it made; False if it was not running."""
        if self._worker is None or self.stopped.is_set():
            return False
        for key in list(self.outputs):
            self.remove_speaker(key)
        await asyncio.to_thread(self._worker.stop)
        # The worker's final parts were queued before stop() returned; None ends the loop.
        self._queue.put_nowait(None)
        if self._publisher is not None:
            await self._publisher
        return True

    def _deliver_mix_minus(self, packets: dict[str, bytes]) -> None:
        for key, packet in packets.items():
            output = self.outputs.get(key)
            if output is not None:
                output.feed(packet)

    async def _publish_loop(self) -> None:
        while (parts := await self._queue.get()) is not None:
            for part in parts:
                try:
                    await self._publish_part(part)
                except Exception:
                    log.exception("publishing a part of %s failed", self.space_id)

    async def _publish_part(self, encoded: EncodedPart) -> None:
        if not self._init_written:
            init = self.worker.encoder.init_segment
            assert init is not None, "the muxer writes moov before any fragment"
            await self.store.put(self.space_id, INIT_NAME, init)
            self._init_written = True
        start_time = (wall_time(self._origin, encoded.start)
                      + timedelta(seconds=self.worker.skipped_seconds))
        part, completed = self.playlist.add_part(encoded.duration, start_time)
        if not self._dash_run_started:
            await self._start_dash_run(part.msn, start_time - timedelta(
                seconds=encoded.start / limits.SAMPLE_RATE))
        if part.index == 0:
            self._segment_starts[part.msn] = encoded.start
            # Noted before the segment's first part is out (a restart goes on after it).
            await threads.run(threads.MEDIA_FILES, _note_started_segment, self.recorder.directory, part.msn)
        await self.store.put(self.space_id, part.name, encoded.data)
        self._names_by_msn.setdefault(part.msn, []).append(part.name)
        self._segment_bytes.append(encoded.data)
        self._stream_parts.append(encoded.data)
        self.parts_published += 1
        if listen_stream.ends_chunk(part.index) or completed is not None:
            chunk, self._stream_parts = b"".join(self._stream_parts), []
            if self.on_stream_chunk is not None:
                self.on_stream_chunk(self.space_id, chunk)
        if completed is not None:
            await self._complete_segment(completed)
        await self._publish_playlist()

    async def _start_dash_run(self, first_msn: int, start: datetime) -> None:
        """This run's first part is out: it is the newest DASH period from now on."""
        self._dash_run_started = True
        self._dash_runs = [*self._dash_runs, dash.Run(first_msn, start)][-dash.MAX_RUNS:]
        await self.store.put(self.space_id, dash.RUNS_NAME, dash.dump_runs(self._dash_runs))

    async def _complete_segment(self, segment: Segment) -> None:
        data = b"".join(self._segment_bytes)
        self._segment_bytes = []
        await self.store.put(self.space_id, segment.name, data)
        self._names_by_msn.setdefault(segment.msn, []).append(segment.name)
        if self.recording:
            await threads.run(threads.MEDIA_FILES, self._record, segment, data)
            if self.on_recording_change is not None and self.recorder.last_error != self._reported:
                self._reported = self.recorder.last_error
                self.on_recording_change(self.space_id, self._reported)
        old = segment.msn - self.playlist.window_segments - EVICTION_MARGIN_SEGMENTS
        if old in self._names_by_msn:
            await self.store.delete(self.space_id, self._names_by_msn.pop(old))
        first = self._segment_starts.pop(segment.msn, None)
        if first is not None:
            await self._publish_subtitles(self.subtitles.add_segment(
                segment.msn, first / limits.SAMPLE_RATE, segment.duration,
                segment.program_date_time, segment.discontinuity))

    async def _publish_subtitles(self, segments: list[SubtitleSegment]) -> None:
        if not segments and not self.subtitles.ended and self.subtitles.published:
            return
        try:
            for segment in segments:
                await self.store.put(self.space_id, segment.name, segment.render().encode())
                self._subs_names[segment.msn] = segment.name
            await self.store.put(self.space_id, SUBS_PLAYLIST_NAME,
                                 self.subtitles.render_playlist().encode())
            if self.subtitles.published:  # out of its window (and the margin): evicted
                oldest = self.subtitles.published[0].msn - EVICTION_MARGIN_SEGMENTS
                old = [msn for msn in self._subs_names if msn < oldest]
                if old:
                    await self.store.delete(self.space_id, [self._subs_names.pop(m) for m in old])
        except Exception:  # captions must never stop the audio's playlist
            log.exception("publishing %s's subtitles failed", self.space_id)

    # -- captions ------------------------------------------------------------------------
    async def start_captions(self, pipeline: CaptionPipeline) -> None:
        """Hand each speaker's audio to `pipeline` from the next tick on."""
        await asyncio.to_thread(pipeline.start)
        self.captions = pipeline
        self.worker.tap = pipeline.tap

    def detach_captions(self) -> CaptionPipeline | None:
        """No more audio to the pipeline; the caller stops it (it blocks: a thread)."""
        pipeline, self.captions = self.captions, None
        if self._worker is not None:
            self._worker.tap = None
        return pipeline

    def caption_time(self, seconds: float) -> datetime:
        """The program date time of a moment of the audio timeline (a caption's)."""
        return (self._origin + timedelta(seconds=seconds)
                + timedelta(seconds=self._worker.skipped_seconds if self._worker else 0.0))

    def add_cue(self, caption: Caption, speaker: str) -> None:
        """A final caption goes into the WebVTT rendition (the next segment published)."""
        if caption.text and not self.subtitles.ended:
            self.subtitles.add_cue(Cue(caption.start, caption.end, speaker, caption.text))

    def _record(self, segment: Segment, data: bytes) -> None:
        if not self._init_recorded:
            init = self.worker.encoder.init_segment
            assert init is not None
            self._init_recorded = self.recorder.write_init(init)
        recorded = self.recorder.write_segment(
            segment.msn,
            data,
            segment.duration,
            segment.program_date_time,
            # The first segment this run records after an earlier run's: a new
            # encoder timeline starts here.
            self._resumed and not self._recorded_a_segment,
        )
        self._recorded_a_segment = self._recorded_a_segment or recorded

    async def _publish_playlist(self) -> None:
        snapshot = PlaylistSnapshot(
            text=self.playlist.render(),
            position=self.playlist.position,
            ended=self.playlist.ended,
            discontinuity_sequence=self.playlist.first_discontinuity_number,
        )
        await self.store.set_playlist(self.space_id, snapshot)


# The recording directory's helpers below block (file I/O): SpaceMedia runs them in
# worker threads.
def _first_msn(directory: Path) -> tuple[int, bool]:
    """Where this run's stream starts, and whether it resumes a recording. A Space
    resumed after a restart continues its recording's numbering, one segment on: the
    segment after the last recorded one may have had parts out (segN.i.m4s, cached as
    immutable by edges and CDNs) that this run must not reuse with other audio."""
    recorded = recorded_segments(directory)
    first_msn = recorded[-1][0] + 2 if recorded else 0
    # A waiting room records nothing: the newest segment it began is noted apart.
    started = _read_started_segment(directory)
    if started is not None:
        first_msn = max(first_msn, started + 1)
    return first_msn, bool(recorded)


def _note_started_segment(directory: Path, msn: int) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / STARTED_SEGMENT_FILE).write_text(str(msn))
    except OSError:
        pass  # a full disk: the recorded segments still give a safe start


def _read_started_segment(directory: Path) -> int | None:
    try:
        return int((directory / STARTED_SEGMENT_FILE).read_text())
    except (OSError, ValueError):
        return None
