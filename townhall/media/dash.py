"""LL-DASH view of a live Space: long segments made of LL-HLS parts. Pure: no I/O.

The LL-HLS path costs an edge two requests per 0.256 s part. Here a player asks once per
DASH segment (8.192 s) and the origin answers with chunked transfer, one chunk per
1.024 s (limits.DASH_*), while the audio is made; an edge that streams a miss (Varnish)
fans that one origin fetch out to every listener.

Nothing new is encoded: a DASH segment is the concatenation of the LL-HLS parts (each
`moof mdat`) of one encoder run, so its bytes are the same CMAF fragments the HLS
players get. A run (one encoder timeline: the first one, then one per restart or
failover) is a DASH Period: its media time 0 is its first part, and its segments are
named after the run's first HLS segment (`d{first_msn}-{number}.m4s`), so a name never
means other audio (edges cache them as immutable).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import quoteattr

from townhall import limits
from townhall.media.llhls import INIT_NAME, part_name, segment_name

MANIFEST_NAME = "live.mpd"
# Where a run's record is kept in the segment store (not served).
RUNS_NAME = "dash-runs.json"
# Periods listed: the current run and the one before it (a player still in it finishes).
MAX_RUNS = 2
PARTS_PER_SEGMENT = limits.DASH_PARTS_PER_CHUNK * limits.DASH_CHUNKS_PER_SEGMENT
PART_SAMPLES = limits.AAC_FRAMES_PER_PART * limits.AAC_FRAME_SAMPLES
SEGMENT_SAMPLES = PARTS_PER_SEGMENT * PART_SAMPLES
SEGMENT_SECONDS = SEGMENT_SAMPLES / limits.SAMPLE_RATE
CHUNK_SECONDS = limits.DASH_PARTS_PER_CHUNK * PART_SAMPLES / limits.SAMPLE_RATE
# HLS segments per DASH segment: a DASH segment starts on an HLS segment boundary.
assert PARTS_PER_SEGMENT % limits.PARTS_PER_SEGMENT == 0
HLS_SEGMENTS_PER_SEGMENT = PARTS_PER_SEGMENT // limits.PARTS_PER_SEGMENT
# The clock players sync to (DASH needs the wall clock: a segment's number is its time).
CLOCK_PATH = "/hls/clock"
_NAME = re.compile(r"d(?P<run>0|[1-9][0-9]{0,8})-(?P<number>0|[1-9][0-9]{0,7})\.m4s")


@dataclass(frozen=True)
class Run:
    """One encoder timeline: its first HLS segment and the wall time of its media 0."""

    first_msn: int
    start: datetime

    def to_json(self) -> dict[str, object]:
        return {"first_msn": self.first_msn, "start": self.start.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Run:
        return cls(int(data["first_msn"]), datetime.fromisoformat(str(data["start"])))  # type: ignore[call-overload]


def dump_runs(runs: list[Run]) -> bytes:
    return json.dumps([r.to_json() for r in runs[-MAX_RUNS:]]).encode()


def load_runs(data: bytes | None) -> list[Run]:
    if not data:
        return []
    return [Run.from_json(item) for item in json.loads(data)]


def segment_file(run: Run | int, number: int) -> str:
    first = run.first_msn if isinstance(run, Run) else run
    return f"d{first}-{number}.m4s"


def parse_segment_file(name: str) -> tuple[int, int] | None:
    """(the run's first msn, segment number), or None if not a DASH segment name."""
    match = _NAME.fullmatch(name)
    return (int(match["run"]), int(match["number"])) if match else None


@dataclass(frozen=True)
class HlsPiece:
    """Where a DASH segment's bytes are in the HLS objects: a whole HLS segment when it
    is complete, else its parts one by one."""

    msn: int
    segment: str
    parts: tuple[str, ...]


def pieces(first_msn: int, number: int) -> list[HlsPiece]:
    """The HLS segments (with their part names) that make DASH segment `number`."""
    start = first_msn + number * HLS_SEGMENTS_PER_SEGMENT
    return [HlsPiece(msn, segment_name(msn),
                     tuple(part_name(msn, i) for i in range(limits.PARTS_PER_SEGMENT)))
            for msn in range(start, start + HLS_SEGMENTS_PER_SEGMENT)]


def number_of(first_msn: int, msn: int) -> int:
    """The DASH segment an HLS segment of the run belongs to."""
    return (msn - first_msn) // HLS_SEGMENTS_PER_SEGMENT


def ended_seconds(run: Run, last_msn: int, last_part: int) -> float:
    """How long a run lasted that ended with part (last_msn, last_part): its segments
    are whole (the last one aside)."""
    parts = (last_msn - run.first_msn) * limits.PARTS_PER_SEGMENT + last_part + 1
    return parts * PART_SAMPLES / limits.SAMPLE_RATE


def render_manifest(runs: list[Run], now: datetime, base: str = "",
                    ended_after: float | None = None) -> str:
    """The dynamic MPD: one Period per run, each a SegmentTemplate of DASH segments
    that become available (chunked) one chunk after they start. `ended_after`: the
    Space ended that many seconds into its last run; the MPD then says where the
    presentation ends (and asks for no more updates), so players end where it did."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    last_start = (runs[-1].start - epoch).total_seconds() if runs else 0.0
    if ended_after is None:
        timing = f' minimumUpdatePeriod="PT{limits.DASH_MANIFEST_REFRESH_SECONDS}S"'
    else:
        timing = f' mediaPresentationDuration="PT{_secs(last_start + ended_after)}S"'
    ato = SEGMENT_SECONDS - CHUNK_SECONDS
    target_ms = round(limits.DASH_TARGET_LATENCY_SECONDS * 1000)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic"'
        ' profiles="urn:mpeg:dash:profile:isoff-live:2011,'
        'http://www.dashif.org/guidelines/low-latency-live-v5"'
        ' availabilityStartTime="1970-01-01T00:00:00Z"'
        f' publishTime={quoteattr(_iso(now))}{timing}'
        f' timeShiftBufferDepth="PT{_secs(2 * SEGMENT_SECONDS)}S"'
        f' maxSegmentDuration="PT{_secs(SEGMENT_SECONDS)}S"'
        f' minBufferTime="PT{_secs(CHUNK_SECONDS)}S">',
        '  <ServiceDescription id="0">',
        f'    <Latency referenceId="0" target="{target_ms}" min="{round(CHUNK_SECONDS * 1000)}"'
        f' max="{3 * target_ms}"/>',
        f'    <PlaybackRate min="{1 - limits.DASH_CATCHUP_RATE:.2f}"'
        f' max="{1 + limits.DASH_CATCHUP_RATE:.2f}"/>',
        '  </ServiceDescription>',
    ]
    for run in runs[-MAX_RUNS:]:
        start = (run.start - epoch).total_seconds()
        lines += [
            f'  <Period id="run-{run.first_msn}" start="PT{_secs(start)}S">',
            '    <AdaptationSet contentType="audio" mimeType="audio/mp4" lang="und"'
            ' segmentAlignment="true" startWithSAP="1">',
            f'      <Representation id="program" codecs="mp4a.40.2" bandwidth="{limits.AAC_BITRATE}"'
            f' audioSamplingRate="{limits.SAMPLE_RATE}">',
            f'        <SegmentTemplate timescale="{limits.SAMPLE_RATE}" duration="{SEGMENT_SAMPLES}"'
            f' startNumber="0" presentationTimeOffset="0"'
            f' initialization={quoteattr(base + INIT_NAME)}'
            f' media={quoteattr(base + f"d{run.first_msn}-$Number$.m4s")}'
            f' availabilityTimeOffset="{_secs(ato)}" availabilityTimeComplete="false"/>',
            '      </Representation>',
            '    </AdaptationSet>',
            '  </Period>',
        ]
    lines += [
        f'  <UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="{CLOCK_PATH}"/>',
        '</MPD>',
    ]
    return "\n".join(lines) + "\n"


def _secs(seconds: float) -> str:
    return f"{seconds:.3f}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
