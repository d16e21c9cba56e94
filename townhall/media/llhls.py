"""LL-HLS playlist model: parts in, playlist text out. Pure: no I/O, no clock.

Naming: init.mp4; segment N is `segN.m4s`; part i of segment N is `segN.i.m4s`.
A segment's bytes are its parts' bytes concatenated (each part is `moof mdat`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from townhall import limits

INIT_NAME = "init.mp4"
# Only the names we write: ASCII digits without leading zeros, nothing after ".m4s".
_NUMBER = r"0|[1-9][0-9]{0,%d}"
_MEDIA_NAME = re.compile(rf"seg(?P<msn>{_NUMBER % 8})(?:\.(?P<part>{_NUMBER % 3}))?\.m4s")


def segment_name(msn: int) -> str:
    return f"seg{msn}.m4s"


def part_name(msn: int, index: int) -> str:
    return f"seg{msn}.{index}.m4s"


def parse_media_name(name: str) -> tuple[int, int | None] | None:
    """(msn, part index or None for a whole segment), or None if not a media name."""
    match = _MEDIA_NAME.fullmatch(name)
    if not match:
        return None
    part = match["part"]
    return int(match["msn"]), None if part is None else int(part)


@dataclass(frozen=True)
class Part:
    msn: int
    index: int
    duration: float

    @property
    def name(self) -> str:
        return part_name(self.msn, self.index)


@dataclass
class Segment:
    msn: int
    program_date_time: datetime
    parts: list[Part] = field(default_factory=list)
    complete: bool = False
    # A segment carried over from another run's playlist: its length (its parts are
    # not listed again).
    carried_duration: float | None = None
    # The first segment of a new encoder run: EXT-X-DISCONTINUITY goes before it.
    discontinuity: bool = False

    @property
    def duration(self) -> float:
        if self.carried_duration is not None:
            return self.carried_duration
        return sum(p.duration for p in self.parts)

    @property
    def name(self) -> str:
        return segment_name(self.msn)


@dataclass(frozen=True)
class Position:
    """The newest part in the playlist: (msn, part index)."""

    msn: int
    part: int

    def has(self, msn: int, part: int | None) -> bool:
        """Does a playlist at this position satisfy a blocking request for (msn, part)?

        Without a part, segment msn must be complete. A part index past the end of a
        complete segment is satisfied by the next segment's first part.
        """
        if part is None:
            return self.msn > msn
        return self.msn > msn or (self.msn == msn and self.part >= part)


class LivePlaylist:
    def __init__(
        self,
        part_target: float = limits.AAC_FRAMES_PER_PART
        * limits.AAC_FRAME_SAMPLES
        / limits.SAMPLE_RATE,
        parts_per_segment: int = limits.PARTS_PER_SEGMENT,
        window_segments: int = limits.LIVE_PLAYLIST_SEGMENTS,
        first_msn: int = 0,
        discontinuity_sequence: int = 0,
    ) -> None:
        self.first_msn = first_msn
        # A run continuing another's playlist (after a restart or on another node) has a
        # new encoder timeline: players see the change of discontinuity sequence.
        self.discontinuity_sequence = discontinuity_sequence
        self.part_target = part_target
        self.parts_per_segment = parts_per_segment
        self.window_segments = window_segments
        self.segments: list[Segment] = []  # only the window; the recorder keeps all
        self.ended = False
        self._next_is_discontinuity = False

    def continue_after(self, carried: list[Segment], discontinuity_sequence: int) -> None:
        """Go on from another run's playlist (a node that died): its complete segments
        stay in the window, and this run's first segment starts a discontinuity, so a
        player keeps its place instead of finding an empty playlist."""
        self.segments = list(carried)
        self.discontinuity_sequence = discontinuity_sequence
        if carried:
            self.first_msn = carried[-1].msn + 1
        self._next_is_discontinuity = True

    @property
    def first_discontinuity_number(self) -> int:
        """EXT-X-DISCONTINUITY-SEQUENCE: the discontinuity number of the first segment
        (a discontinuity at the very first segment is told by this number, not a tag)."""
        first_is_new_run = bool(self.segments) and self.segments[0].discontinuity
        return self.discontinuity_sequence + (1 if first_is_new_run else 0)

    @property
    def target_duration(self) -> int:
        return max(1, round(self.part_target * self.parts_per_segment))

    @property
    def position(self) -> Position | None:
        if not self.segments or not self.segments[-1].parts:
            return None
        last = self.segments[-1]
        return Position(last.msn, last.parts[-1].index)

    def add_part(self, duration: float, start_time: datetime) -> tuple[Part, Segment | None]:
        """Append a part; return it and the segment it completed, if any."""
        if self.ended:
            raise ValueError("playlist has ended")
        if duration > self.part_target + 1e-6:
            raise ValueError(f"part of {duration:.3f}s exceeds PART-TARGET {self.part_target}")
        if not self.segments or self.segments[-1].complete:
            msn = self.segments[-1].msn + 1 if self.segments else self.first_msn
            self.segments.append(Segment(msn=msn, program_date_time=start_time,
                                         discontinuity=self._next_is_discontinuity))
            self._next_is_discontinuity = False
        current = self.segments[-1]
        part = Part(msn=current.msn, index=len(current.parts), duration=duration)
        current.parts.append(part)
        completed = None
        if len(current.parts) == self.parts_per_segment:
            current.complete = True
            completed = current
        dropped = self.segments[: max(0, len(self.segments) - self.window_segments - 1)]
        # EXT-X-DISCONTINUITY-SEQUENCE counts the discontinuities that left the window.
        self.discontinuity_sequence += sum(1 for s in dropped if s.discontinuity)
        del self.segments[: len(dropped)]
        return part, completed

    def end(self) -> Segment | None:
        """Close the playlist; return the last segment if ending completed it."""
        self.ended = True
        if self.segments and not self.segments[-1].complete and self.segments[-1].parts:
            self.segments[-1].complete = True
            return self.segments[-1]
        if self.segments and not self.segments[-1].parts:
            self.segments.pop()
        return None

    def render(self) -> str:
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:6",
            f"#EXT-X-TARGETDURATION:{self.target_duration}",
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,"
            f"PART-HOLD-BACK={_fmt(3 * self.part_target)}",
            f"#EXT-X-PART-INF:PART-TARGET={_fmt(self.part_target)}",
            f"#EXT-X-MEDIA-SEQUENCE:{self.segments[0].msn if self.segments else self.first_msn}",
            f"#EXT-X-DISCONTINUITY-SEQUENCE:{self.first_discontinuity_number}",
            f'#EXT-X-MAP:URI="{INIT_NAME}"',
        ]
        # Parts are listed for the newest segments only (spec: at least those within
        # three target durations of the live edge); older ones are whole segments.
        parts_from = len(self.segments) - 3
        for i, segment in enumerate(self.segments):
            if segment.discontinuity and i > 0:
                lines.append("#EXT-X-DISCONTINUITY")
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_iso(segment.program_date_time)}")
            if i >= parts_from:
                lines += [
                    f'#EXT-X-PART:DURATION={_fmt(p.duration)},URI="{p.name}",INDEPENDENT=YES'
                    for p in segment.parts
                ]
            if segment.complete:
                lines += [f"#EXTINF:{_fmt(segment.duration)},", segment.name]
        if self.ended:
            lines.append("#EXT-X-ENDLIST")
        elif self.segments:
            last = self.segments[-1]
            msn, index = (last.msn + 1, 0) if last.complete else (last.msn, len(last.parts))
            lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{part_name(msn, index)}"')
        return "\n".join(lines) + "\n"


def render_vod(segments: list[tuple[int, float, datetime, bool]], target_duration: int) -> str:
    """A VOD playlist of recorded segments: (msn, duration, program date time, whether
    a new encoder run starts there, e.g. after a restart)."""
    longest = max((s[1] for s in segments), default=0.0)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:6",
        f"#EXT-X-TARGETDURATION:{max(target_duration, math.ceil(longest - 0.5))}",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        f"#EXT-X-MEDIA-SEQUENCE:{segments[0][0] if segments else 0}",
        f'#EXT-X-MAP:URI="{INIT_NAME}"',
    ]
    previous = None
    for msn, duration, pdt, restarted in segments:
        if previous is not None and (restarted or msn != previous + 1):
            lines.append("#EXT-X-DISCONTINUITY")
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_iso(pdt)}")
        lines += [f"#EXTINF:{_fmt(duration)},", segment_name(msn)]
        previous = msn
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def _fmt(seconds: float) -> str:
    return f"{seconds:.3f}"


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def wall_time(origin: datetime, sample: int) -> datetime:
    return origin + timedelta(seconds=sample / limits.SAMPLE_RATE)
