"""The one-stream listener path (issue #16): a listener holds one HTTP response for the
whole Space and gets the Space's fMP4 fragments as they are made, a chunk (the LL-DASH
chunk: limits.DASH_PARTS_PER_CHUNK parts, 1.024 s) at a time. Pure: no I/O.

Why: a request per part (LL-HLS) or per segment (LL-DASH through Varnish) costs an edge
more per listener than Icecast; an edge that writes each chunk to every open response
from one event loop (nginx + Nchan, townhall/edge/nginx.conf.j2) costs a quarter of
Icecast (BENCHMARKS.md §13). The bytes are the CMAF fragments the HLS and DASH players
get (`moof mdat` per part), without the init segment: a player appends `init.mp4`, then
the stream, to one MSE SourceBuffer in "sequence" mode, so a new run (a restart, a
failover) simply goes on where the last one stopped.
"""

from __future__ import annotations

from townhall import limits

STREAM_NAME = "live.stream"
# Answered 204 when this URL may play the stream (the edge asks before it subscribes a
# listener: a private Space's signed token is checked by the origin, as for HLS).
ACCESS_NAME = "stream.access"
STREAM_TYPE = "audio/mp4"
CHUNK_PARTS = limits.DASH_PARTS_PER_CHUNK


def ends_chunk(part_index: int) -> bool:
    """Does this part (its index in its HLS segment) complete a stream chunk? Chunks are
    aligned to HLS segments, as the LL-DASH chunks are (a segment's last part always
    ends one, short or not: the caller checks that)."""
    return (part_index + 1) % CHUNK_PARTS == 0


def chunk_start(part_index: int) -> int:
    """The first part of the chunk that part belongs to."""
    return part_index - part_index % CHUNK_PARTS
