"""Program audio (mono int16 PCM) -> AAC-LC in fragmented MP4, one fragment per part."""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np

from townhall import limits
from townhall.media.fmp4 import Fragment, FragmentSplitter


@dataclass(frozen=True)
class EncodedPart:
    data: bytes
    start: int  # first sample, counted from the start of the Space
    samples: int

    @property
    def duration(self) -> float:
        return self.samples / limits.SAMPLE_RATE


class _Sink(io.RawIOBase):
    """The muxer's output file: hands every write to the splitter."""

    def __init__(self, splitter: FragmentSplitter) -> None:
        self.splitter = splitter
        self.fragments: list[Fragment] = []

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.fragments += self.splitter.feed(bytes(data))
        return len(data)


class AacPartEncoder:
    """Encode with PyAV and cut parts of AAC_FRAMES_PER_PART frames each.

    Not thread-safe; owned by one Space's media worker thread.
    """

    def __init__(
        self,
        bitrate: int = limits.AAC_BITRATE,
        frames_per_part: int = limits.AAC_FRAMES_PER_PART,
    ) -> None:
        self._splitter = FragmentSplitter()
        self._sink = _Sink(self._splitter)
        part_us = frames_per_part * limits.AAC_FRAME_SAMPLES * 1_000_000 // limits.SAMPLE_RATE
        self._container = av.open(
            self._sink,
            mode="w",
            format="mp4",
            options={
                "movflags": "frag_keyframe+empty_moov+default_base_moof",
                "frag_duration": str(part_us),
                "flush_packets": "1",
            },
        )
        self._stream = self._container.add_stream("aac", rate=limits.SAMPLE_RATE, layout="mono")
        self._stream.bit_rate = bitrate
        self._pts = 0
        self._closed = False

    @property
    def init_segment(self) -> bytes | None:
        return self._splitter.init_segment

    def encode(self, pcm: np.ndarray) -> list[EncodedPart]:
        """Encode mono int16 samples; return the parts completed by them."""
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = limits.SAMPLE_RATE
        frame.pts = self._pts
        self._pts += pcm.shape[-1]
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        return self._take_parts()

    def close(self) -> list[EncodedPart]:
        """Flush the encoder; return the last (possibly short) part."""
        if self._closed:
            return []
        self._closed = True
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._take_parts()

    def _take_parts(self) -> list[EncodedPart]:
        fragments, self._sink.fragments = self._sink.fragments, []
        return [
            EncodedPart(
                data=f.data,
                start=f.base_decode_time,
                samples=f.sample_count * limits.AAC_FRAME_SAMPLES,
            )
            for f in fragments
        ]
