"""A stretch of a recording as one progressive .m4a: remuxed, never re-encoded.

The recording is fMP4 (townhall/media/recorder.py): init.mp4 and segments of parts of
AAC frames. Every AAC-LC frame (1024 samples, 21.3 ms at 48 kHz) decodes on its own, so
any stretch is cut to the frame: a frame is kept when its middle lies inside
[start, end), which puts each cut within half a frame of the time asked for and the
length within one frame of it. The packets are copied as they are into an MP4 ("ipod"
muxer: the .m4a brand) with its index at the front (faststart), so a player starts
before the download ends and can seek in it with HTTP Range requests.

Times are seconds on the recording's own timeline: the segments in their index order,
back to back (as the replay playlist plays them; a gap while the media restarted takes
no time). The caller runs this in a worker thread: it reads and writes files.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from townhall import limits
from townhall.media.llhls import INIT_NAME, segment_name
from townhall.media.recorder import recorded_segments

FRAME_SECONDS = limits.AAC_FRAME_SAMPLES / limits.SAMPLE_RATE
M4A_TYPE = "audio/mp4"


@dataclass(frozen=True)
class Span:
    """One recorded segment on the recording's timeline."""

    msn: int
    start: float
    duration: float

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class Exported:
    path: Path
    seconds: float  # what the file plays: whole frames
    size: int


class NothingRecorded(Exception):
    """No recorded audio in the stretch asked for (or no recording at all)."""


def timeline(directory: Path) -> list[Span]:
    spans, at = [], 0.0
    for msn, duration, _, _ in recorded_segments(directory):
        spans.append(Span(msn, at, duration))
        at += duration
    return spans


def recorded_seconds(directory: Path) -> float:
    spans = timeline(directory)
    return spans[-1].end if spans else 0.0


def export_m4a(directory: Path, start: float, end: float, target: Path) -> Exported:
    """Write [start, end) of the recording in `directory` to `target` (atomically: a
    reader never sees half a file); the result's length in seconds and bytes."""
    spans = [s for s in timeline(directory) if s.end > start and s.start < end]
    if not spans or end <= start:
        raise NothingRecorded("nothing was recorded in that stretch")
    init = (directory / INIT_NAME).read_bytes()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    samples = 0
    try:
        with av.open(str(tmp), "w", format="ipod",
                     options={"movflags": "+faststart"}) as output:
            stream = None
            for span in spans:
                try:
                    data = (directory / segment_name(span.msn)).read_bytes()
                except FileNotFoundError:
                    continue  # lost to a disk failure: the rest still plays
                with av.open(io.BytesIO(init + data), format="mp4") as source:
                    audio = source.streams.audio[0]
                    if stream is None:
                        stream = output.add_stream_from_template(audio)
                    first = None
                    for packet in source.demux(audio):
                        if packet.pts is None or packet.size == 0:
                            continue
                        tb = packet.time_base
                        first = packet.pts if first is None else first
                        duration = packet.duration or limits.AAC_FRAME_SAMPLES
                        at = span.start + float((packet.pts - first) * tb)
                        middle = at + float(duration * tb) / 2
                        if not start <= middle < end:
                            continue
                        rate = Fraction(1, limits.SAMPLE_RATE)
                        length = int(duration * tb / rate)
                        packet.pts = packet.dts = samples
                        packet.duration = length
                        packet.time_base = rate
                        packet.stream = stream
                        output.mux(packet)
                        samples += length
            if stream is None or samples == 0:
                raise NothingRecorded("nothing was recorded in that stretch")
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return Exported(target, samples / limits.SAMPLE_RATE, target.stat().st_size)
