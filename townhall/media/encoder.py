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


# The encoder hands out the packet that closes a part only once it has this many
# samples beyond the part's end: its 1024-sample delay, then the next part's first frame
# (the muxer closes a fragment when the next one begins). Checked against encoding every
# tick in tests/media/test_encoder.py.
PART_LOOKAHEAD_SAMPLES = 2 * limits.AAC_FRAME_SAMPLES
_FRAME = limits.AAC_FRAME_SAMPLES


class AacPartEncoder:
    """Encode with PyAV and cut parts of AAC_FRAMES_PER_PART frames each.

    The encoder gets whole 1024-sample frames in its own sample format (planar float),
    cut here with numpy: PyAV then has nothing to convert or re-buffer, which it does in
    Python on every call (its resampler and FIFO, pts as Fractions).

    `encode(..., hold=True)` (a Space with nobody on stage) keeps the ticks until the
    tick that completes a part and encodes them together: the part comes out at the same
    tick, for one encoder call instead of ~13. Not while anyone speaks: a part's worth
    at once is a burst of work that made other Spaces' ticks late on a full core
    (benchmarks/spaces_per_core.py).

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
        self._pts = 0  # samples handed to the encoder
        self._held: list[np.ndarray] = []  # ticks not encoded yet
        self._held_samples = 0
        self._part_samples = frames_per_part * limits.AAC_FRAME_SAMPLES
        self._next_part_end = self._part_samples  # on the timeline of samples fed
        self._closed = False

    @property
    def init_segment(self) -> bytes | None:
        return self._splitter.init_segment

    def encode(self, pcm: np.ndarray, hold: bool = False) -> list[EncodedPart]:
        """Take mono int16 samples; return the parts completed by them."""
        self._held.append(pcm)
        self._held_samples += pcm.shape[-1]
        if hold and self._pts + self._held_samples < self._next_part_end + PART_LOOKAHEAD_SAMPLES:
            return []  # no part can be complete yet
        self._encode_held(whole_frames_only=True)
        parts = self._take_parts()
        if parts:
            self._next_part_end = parts[-1].start + parts[-1].samples + self._part_samples
        return parts

    def ticks_until_part(self, tick_samples: int = limits.TICK_SAMPLES) -> int:
        """How many more held ticks, this one included, until one completes a part:
        an idle Space's clock sleeps until then (townhall/media/worker.py)."""
        missing = self._next_part_end + PART_LOOKAHEAD_SAMPLES - self._pts - self._held_samples
        return max(1, -(-missing // tick_samples))

    def _encode_held(self, whole_frames_only: bool) -> None:
        count = self._held_samples - self._held_samples % _FRAME if whole_frames_only else self._held_samples
        if not count:
            return
        pcm = np.concatenate(self._held) if len(self._held) > 1 else self._held[0]
        rest = pcm[count:]
        self._held, self._held_samples = ([rest] if rest.shape[0] else []), rest.shape[0]
        planar = (pcm[:count].astype(np.float32) * (1 / 32768)).reshape(1, -1)
        for start in range(0, count, _FRAME):
            frame = av.AudioFrame.from_ndarray(planar[:, start:start + _FRAME], format="fltp",
                                               layout="mono")
            frame.sample_rate = limits.SAMPLE_RATE
            frame.pts = self._pts
            self._pts += frame.samples
            for packet in self._stream.encode(frame):
                self._container.mux(packet)

    def close(self) -> list[EncodedPart]:
        """Flush the encoder; return the last parts (the very last possibly short)."""
        if self._closed:
            return []
        self._closed = True
        self._encode_held(whole_frames_only=False)
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
