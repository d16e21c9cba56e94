"""The WebVTT subtitles rendition beside the audio: pure (no I/O, no clock), like llhls.

Each subtitle segment mirrors an audio segment (same media sequence number, duration
and program date time) and is named `subs{msn}.vtt`. Cue times are seconds of the
audio's own timeline (the fMP4 decode time: sample / 48000 since the encoder started);
every segment says so with `X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000` (90 kHz
MPEG time 0 = the fMP4 timeline's 0), so hls.js, Safari and VLC place the cues exactly
where the audio is.

Captions come after the speech (the recogniser needs the utterance), so a subtitle
segment is published only once the audio is SUBTITLE_LAG_SEGMENTS segments further on;
a cue later than that goes into the next segment published (its times unchanged, so a
player still shows it at the right moment if it has not played past it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

MASTER_NAME = "master.m3u8"
SUBS_PLAYLIST_NAME = "subs.m3u8"
AUDIO_PLAYLIST_NAME = "live.m3u8"
TIMESTAMP_MAP = "X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000"
# ~6 s behind the audio's live edge: a caption usually arrives 1-3 s after the words.
SUBTITLE_LAG_SEGMENTS = 3
# The audio rendition's declared bandwidth (AAC-LC mono ~64 kb/s plus fMP4 overhead).
AUDIO_BANDWIDTH = 80_000
_SUBS_NAME = re.compile(r"subs(?P<msn>0|[1-9][0-9]{0,8})\.vtt")


def subs_name(msn: int) -> str:
    return f"subs{msn}.vtt"


def parse_subs_name(name: str) -> int | None:
    match = _SUBS_NAME.fullmatch(name)
    return int(match["msn"]) if match else None


@dataclass(frozen=True)
class Cue:
    start: float  # seconds of the audio timeline
    end: float
    speaker: str
    text: str

    def render(self) -> str:
        return f"{timestamp(self.start)} --> {timestamp(max(self.end, self.start + 0.5))}\n" \
               f"<v {_escape(self.speaker)}>{_escape(self.text)}"


@dataclass
class SubtitleSegment:
    msn: int
    start: float  # audio timeline seconds
    duration: float
    program_date_time: datetime
    discontinuity: bool = False
    cues: list[Cue] = field(default_factory=list)

    @property
    def name(self) -> str:
        return subs_name(self.msn)

    def render(self) -> str:
        return render_segment(self.cues)


def render_segment(cues: list[Cue]) -> str:
    blocks = ["WEBVTT", TIMESTAMP_MAP]
    text = "\n".join(blocks) + "\n"
    for cue in cues:
        text += "\n" + cue.render() + "\n"
    return text


class SubtitleTrack:
    """Audio segments and final cues in; subtitle segments and their playlist out."""

    def __init__(self, target_duration: int, window_segments: int,
                 lag_segments: int = SUBTITLE_LAG_SEGMENTS) -> None:
        self.target_duration = target_duration
        self.window_segments = window_segments
        self.lag_segments = lag_segments
        self.discontinuity_sequence = 0
        self._waiting: list[SubtitleSegment] = []  # audio complete, subtitles not yet out
        self.published: list[SubtitleSegment] = []  # the window
        self._cues: list[Cue] = []  # not yet in a published segment
        self.ended = False

    def add_cue(self, cue: Cue) -> None:
        self._cues.append(cue)

    def add_segment(self, msn: int, start: float, duration: float, pdt: datetime,
                    discontinuity: bool = False) -> list[SubtitleSegment]:
        """An audio segment completed: return the subtitle segments now due (oldest
        first); each holds the cues that start before its end."""
        self._waiting.append(SubtitleSegment(msn, start, duration, pdt, discontinuity))
        due = len(self._waiting) - self.lag_segments
        return self._publish(max(0, due))

    def end(self) -> list[SubtitleSegment]:
        """The Space's media stopped: everything waiting goes out (every cue placed)."""
        self.ended = True
        return self._publish(len(self._waiting), everything=True)

    def _publish(self, count: int, everything: bool = False) -> list[SubtitleSegment]:
        out = []
        for i in range(count):
            segment = self._waiting.pop(0)
            last = everything and i == count - 1
            end = segment.start + segment.duration
            take = [c for c in self._cues if last or c.start < end]
            self._cues = [c for c in self._cues if not (last or c.start < end)]
            segment.cues = sorted(take, key=lambda c: c.start)
            out.append(segment)
            self.published.append(segment)
        drop = max(0, len(self.published) - self.window_segments)
        self.discontinuity_sequence += sum(1 for s in self.published[:drop] if s.discontinuity)
        del self.published[:drop]
        return out

    def render_playlist(self) -> str:
        first = self.published[0].msn if self.published else 0
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:6",
            f"#EXT-X-TARGETDURATION:{self.target_duration}",
            f"#EXT-X-MEDIA-SEQUENCE:{first}",
            f"#EXT-X-DISCONTINUITY-SEQUENCE:{self.discontinuity_sequence}",
        ]
        for i, segment in enumerate(self.published):
            if segment.discontinuity and i > 0:
                lines.append("#EXT-X-DISCONTINUITY")
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_iso(segment.program_date_time)}")
            lines += [f"#EXTINF:{segment.duration:.3f},", segment.name]
        if self.ended:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"


def render_master(audio_uri: str = AUDIO_PLAYLIST_NAME, subs_uri: str = SUBS_PLAYLIST_NAME,
                  bandwidth: int = AUDIO_BANDWIDTH) -> str:
    """The multivariant playlist: the audio and its English subtitles rendition."""
    return "\n".join([
        "#EXTM3U",
        "#EXT-X-VERSION:6",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",LANGUAGE="en",NAME="English",'
        f'DEFAULT=YES,AUTOSELECT=YES,URI="{subs_uri}"',
        f'#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},CODECS="mp4a.40.2",SUBTITLES="subs"',
        audio_uri,
    ]) + "\n"


def timestamp(seconds: float) -> str:
    """WebVTT's hh:mm:ss.ttt (hours may exceed 99)."""
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def _escape(text: str) -> str:
    # A cue's text may not hold "-->" or markup characters; newlines would end it.
    return (" ".join(text.split()).replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;"))


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
