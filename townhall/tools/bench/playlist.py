"""A small, fast LL-HLS media playlist reader for the load generator.

The `m3u8` package (used by townhall.tools.clients.hls) parses a live playlist in about a
millisecond; a few thousand simulated players reload it several times a second each,
so the generator would spend its CPU parsing. This reads only what a low-latency
player needs: media sequence, the init segment, parts with their program date-time
(carried forward to the trailing parts-only segment, as HlsReader does), which
segments are complete, hold-back and end-of-list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple


class Part(NamedTuple):
    msn: int
    index: int
    uri: str
    duration: float
    program_date_time: float | None  # unix time of the part's first sample

    @property
    def key(self) -> tuple[int, int]:
        return (self.msn, self.index)


@dataclass
class MediaPlaylist:
    media_sequence: int = 0
    init_uri: str | None = None
    part_target: float | None = None
    part_hold_back: float | None = None
    can_block_reload: bool = False
    ended: bool = False
    parts: list[Part] = field(default_factory=list)
    # msn -> number of parts, for segments the playlist lists as complete (EXTINF + URI).
    complete: dict[int, int] = field(default_factory=dict)

    def next_after(self, key: tuple[int, int]) -> tuple[int, int]:
        """The (msn, part) a blocking reload asks for after part `key`."""
        msn, index = key
        if self.complete.get(msn) == index + 1:
            return (msn + 1, 0)
        return (msn, index + 1)

    def parts_back(self, default: int = 3) -> int:
        """How far behind the live edge a player starts: PART-HOLD-BACK in parts."""
        if self.part_hold_back and self.part_target:
            return max(1, round(self.part_hold_back / self.part_target))
        return default


class PlaylistError(ValueError):
    pass


# The common shape of a part line, matched in one go (attributes in any other order
# fall back to the general attribute reader).
_PART = re.compile(r'#EXT-X-PART:DURATION=([0-9.]+),URI="([^"]*)"')


@lru_cache(maxsize=4096)
def _date(text: str) -> float:
    return datetime.fromisoformat(text.strip()).timestamp()


def _attributes(text: str) -> dict[str, str]:
    """NAME=value,NAME="quoted, value" -> {NAME: value}."""
    out: dict[str, str] = {}
    quoted, start = False, 0
    for i, c in enumerate(text + ","):
        if c == '"':
            quoted = not quoted
        elif c == "," and not quoted:
            name, _, raw = text[start:i].partition("=")
            out[name.strip()] = raw.strip().strip('"')
            start = i + 1
    return out


def parse(text: str) -> MediaPlaylist:
    if not text.startswith("#EXTM3U"):
        raise PlaylistError("not an HLS playlist")
    playlist = MediaPlaylist()
    msn: int | None = None
    pdt: float | None = None  # start of the current segment
    elapsed = 0.0  # media time into the current segment
    index = 0
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("#EXT-X-PART:"):
            if msn is None:
                msn = playlist.media_sequence
            match = _PART.match(line)
            if match is not None:
                duration, uri = float(match[1]), match[2]
            else:
                attrs = _attributes(line[12:])
                if "DURATION" not in attrs or "URI" not in attrs:
                    raise PlaylistError(f"bad part line: {line[:100]}")
                duration, uri = float(attrs["DURATION"]), attrs["URI"]
            at = pdt + elapsed if pdt is not None else None
            playlist.parts.append(Part(msn, index, uri, duration, at))
            elapsed += duration
            index += 1
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pdt = _date(line[25:])
        elif line.startswith("#EXTINF:"):
            if msn is None:
                msn = playlist.media_sequence
            duration = float(line[8:].split(",", 1)[0])
            if index == 0:
                elapsed = duration  # a segment without parts
        elif not line.startswith("#"):
            # The segment's URI: it is complete. The next one starts where it ended.
            if msn is None:
                msn = playlist.media_sequence
            playlist.complete[msn] = index
            msn += 1
            pdt = pdt + elapsed if pdt is not None else None
            elapsed, index = 0.0, 0
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            playlist.media_sequence = int(line[22:])
        elif line.startswith("#EXT-X-MAP:"):
            playlist.init_uri = _attributes(line[11:]).get("URI")
        elif line.startswith("#EXT-X-PART-INF:"):
            target = _attributes(line[16:]).get("PART-TARGET")
            playlist.part_target = float(target) if target else None
        elif line.startswith("#EXT-X-SERVER-CONTROL:"):
            attrs = _attributes(line[22:])
            playlist.can_block_reload = attrs.get("CAN-BLOCK-RELOAD") == "YES"
            if "PART-HOLD-BACK" in attrs:
                playlist.part_hold_back = float(attrs["PART-HOLD-BACK"])
        elif line.startswith("#EXT-X-ENDLIST"):
            playlist.ended = True
    return playlist
