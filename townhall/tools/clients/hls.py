"""An LL-HLS reader that fetches like a low-latency player: start near the live edge,
then blocking playlist reloads for the next part, then the part itself."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin

import av
import httpx
import m3u8
import numpy as np

from townhall import limits

# Per-request limit: a blocking reload answers within three target durations.
REQUEST_TIMEOUT = 10.0


@dataclass
class FetchedPart:
    uri: str
    duration: float
    data: bytes
    fetched_at: float  # wall clock
    program_date_time: float | None  # segment PDT + offset, as a unix time
    # Discontinuity number (EXT-X-DISCONTINUITY-SEQUENCE + tags before it): a new
    # encoder timeline, e.g. after the origin mixing the Space changed.
    discontinuity: int = 0


@dataclass
class HlsReader:
    playlist_url: str
    client: httpx.AsyncClient
    init: bytes = b""
    parts: list[FetchedPart] = field(default_factory=list)
    playlist: m3u8.M3U8 | None = None
    _seen: set[str] = field(default_factory=set)
    _last: tuple[int, int] | None = None  # (msn, part index) of the newest part fetched
    _discontinuity_of: dict[str, int] = field(default_factory=dict)

    async def _load(self, params: dict[str, int] | None = None) -> m3u8.M3U8:
        response = await self.client.get(self.playlist_url, params=params, timeout=REQUEST_TIMEOUT)
        response.raise_for_status()
        self.playlist = m3u8.loads(response.text)
        self._discontinuity_of = discontinuity_numbers(response.text)
        return self.playlist

    def _listed_parts(self, playlist: m3u8.M3U8) -> list[tuple[int, int, str, float, float | None]]:
        listed = []
        next_pdt: float | None = None
        for offset, segment in enumerate(playlist.segments):
            msn = playlist.media_sequence + offset
            # m3u8 leaves the date off the trailing parts-only segment: carry it forward.
            pdt = segment.program_date_time.timestamp() if segment.program_date_time else next_pdt
            next_pdt = None if pdt is None else pdt + sum(p.duration for p in segment.parts)
            elapsed = 0.0
            for index, part in enumerate(segment.parts):
                at = pdt + elapsed if pdt is not None else None
                listed.append((msn, index, part.uri, part.duration, at))
                elapsed += part.duration
        return listed

    async def start(self, parts_back: int = 3) -> None:
        """Load the playlist and the init segment; begin `parts_back` parts from the edge."""
        playlist = await self._load()
        init_uri = playlist.segment_map[0].uri
        response = await self.client.get(urljoin(self.playlist_url, init_uri))
        response.raise_for_status()
        self.init = response.content
        listed = self._listed_parts(playlist)
        for msn, index, uri, _, _ in listed[: max(0, len(listed) - parts_back)]:
            self._seen.add(uri)
            self._last = (msn, index)

    async def read_next(self) -> list[FetchedPart]:
        """Fetch every listed part not fetched yet; block for the next one if none."""
        playlist = self.playlist
        assert playlist is not None, "start() first"
        new = [p for p in self._listed_parts(playlist) if p[2] not in self._seen]
        if not new and not playlist.is_endlist:
            msn, index = self._last if self._last else (playlist.media_sequence, -1)
            playlist = await self._load({"_HLS_msn": msn, "_HLS_part": index + 1})
            new = [p for p in self._listed_parts(playlist) if p[2] not in self._seen]
        fetched = []
        for msn, index, uri, duration, pdt in new:
            response = await self.client.get(urljoin(self.playlist_url, uri), timeout=REQUEST_TIMEOUT)
            response.raise_for_status()
            part = FetchedPart(uri, duration, response.content, time.time(), pdt,
                               self._discontinuity_of.get(uri, 0))
            self._seen.add(uri)
            self._last = (msn, index)
            self.parts.append(part)
            fetched.append(part)
        return fetched

    async def read_seconds(self, seconds: float, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while sum(p.duration for p in self.parts) < seconds:
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {len(self.parts)} parts in {timeout}s")
            if not await self.read_next() and self.playlist is not None and self.playlist.is_endlist:
                break

    def decode(self) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Decode init + fetched parts: (mono int16 PCM, [(pts, samples) per frame])."""
        return decode_fmp4(self.init + b"".join(p.data for p in self.parts))


def discontinuity_numbers(text: str) -> dict[str, int]:
    """The discontinuity number of every part and segment URI in a media playlist
    (read from the text: the m3u8 package drops EXT-X-DISCONTINUITY on a trailing
    segment that has only parts so far)."""
    numbers: dict[str, int] = {}
    number = 0
    for line in text.splitlines():
        if line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE:"):
            number = int(line.partition(":")[2])
        elif line == "#EXT-X-DISCONTINUITY":
            number += 1
        elif line.startswith("#EXT-X-PART:") and 'URI="' in line:
            numbers[line.split('URI="', 1)[1].split('"', 1)[0]] = number
        elif line and not line.startswith("#"):
            numbers[line] = number
    return numbers


def decode_fmp4(data: bytes) -> tuple[np.ndarray, list[tuple[int, int]]]:
    chunks, frames = [], []
    with av.open(io.BytesIO(data), format="mp4") as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=limits.SAMPLE_RATE)
        for frame in container.decode(audio=0):
            frames.append((frame.pts, frame.samples))
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    return pcm, frames
