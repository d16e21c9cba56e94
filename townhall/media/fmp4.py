"""Split a fragmented-MP4 byte stream into its init segment and its fragments.

PyAV's mp4 muxer (with empty_moov + frag_duration) writes `ftyp moov` once, then one
`moof mdat` pair per fragment. Each pair is an LL-HLS part. This module only reads box
headers; it never rewrites what the muxer wrote.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

BOX_HEADER = struct.Struct(">I4s")


@dataclass(frozen=True)
class Fragment:
    data: bytes  # moof + mdat
    base_decode_time: int  # tfdt, in media timescale units
    sample_count: int  # AAC frames in this fragment


class FragmentSplitter:
    """Feed bytes as the muxer writes them; get complete boxes back out."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._init = bytearray()
        self._pending_moof: bytes | None = None
        self.init_segment: bytes | None = None

    def feed(self, data: bytes) -> list[Fragment]:
        self._buffer += data
        fragments: list[Fragment] = []
        for box_type, box in self._complete_boxes():
            if box_type in (b"ftyp", b"moov"):
                self._init += box
                if box_type == b"moov":
                    self.init_segment = bytes(self._init)
            elif box_type == b"moof":
                self._pending_moof = box
            elif box_type == b"mdat" and self._pending_moof is not None:
                moof, self._pending_moof = self._pending_moof, None
                fragments.append(_fragment(moof, box))
            # Anything else (mfra at close, free) is not part of the live stream.
        return fragments

    def _complete_boxes(self) -> list[tuple[bytes, bytes]]:
        boxes = []
        offset = 0
        while len(self._buffer) - offset >= BOX_HEADER.size:
            size, box_type = BOX_HEADER.unpack_from(self._buffer, offset)
            if size < BOX_HEADER.size:
                raise ValueError(f"unsupported MP4 box size {size} for {box_type!r}")
            if len(self._buffer) - offset < size:
                break
            boxes.append((box_type, bytes(self._buffer[offset : offset + size])))
            offset += size
        del self._buffer[:offset]
        return boxes


def _find_child(box: bytes, path: list[bytes]) -> bytes:
    """Return the payload of the box at `path` below `box` (a container's payload)."""
    offset = 0
    want, rest = path[0], path[1:]
    while offset + BOX_HEADER.size <= len(box):
        size, box_type = BOX_HEADER.unpack_from(box, offset)
        if box_type == want:
            payload = box[offset + BOX_HEADER.size : offset + size]
            return _find_child(payload, rest) if rest else payload
        offset += size
    raise ValueError(f"box {want!r} not found")


def _fragment(moof: bytes, mdat: bytes) -> Fragment:
    traf = _find_child(moof[BOX_HEADER.size :], [b"traf"])
    tfdt = _find_child(traf, [b"tfdt"])
    version = tfdt[0]
    base = struct.unpack_from(">Q" if version == 1 else ">I", tfdt, 4)[0]
    trun = _find_child(traf, [b"trun"])
    (sample_count,) = struct.unpack_from(">I", trun, 4)
    return Fragment(data=moof + mdat, base_decode_time=base, sample_count=sample_count)
