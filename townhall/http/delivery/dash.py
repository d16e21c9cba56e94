"""LL-DASH origin: the manifest and the DASH segments, streamed as they are made.

The player asks for a segment about a chunk after it starts (availabilityTimeOffset);
the answer is chunked transfer, one chunk per limits.DASH_PARTS_PER_CHUNK parts, each
sent as soon as its last part is in the segment store. A finished segment is one body.
An edge that streams a miss (Varnish, townhall/edge/varnish.vcl) holds one such request
to the origin per segment whatever its audience (see townhall/media/dash.py).

Answers are cacheable like the HLS objects (a segment's name never means other audio).
A stream cut short by a failure ends without its last chunk, so no cache keeps it as
whole; a run that ends inside a segment (the Space ended, another node took over) ends
it cleanly: that shorter segment is what the run made.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from townhall import limits
from townhall.http.common.deps import services
from townhall.media import dash
from townhall.media.segment_store import PlaylistSnapshot, SegmentStore

log = logging.getLogger(__name__)
MANIFEST_TYPE = "application/dash+xml"
SEGMENT_TYPE = "audio/mp4"
MANIFEST_CACHE = "public, max-age=1"
MEDIA_CACHE = "public, max-age=31536000, immutable"
NO_STORE = "no-store"
# How long a stream waits for its next part: a whole segment (a request for the next
# segment comes up to one segment early), plus the blocking-reload allowance of HLS.
PART_WAIT = dash.SEGMENT_SECONDS + limits.BLOCKING_RELOAD_TARGET_DURATIONS * 2


class StreamCut(Exception):
    """The parts stopped coming: the response ends without its last chunk."""


def not_available(message: str) -> Response:
    return Response(message, status_code=404, media_type="text/plain",
                    headers={"Cache-Control": NO_STORE})


async def manifest(request: Request, space_id: str, snapshot: PlaylistSnapshot) -> Response:
    runs = dash.load_runs(await services(request).store.get(space_id, dash.RUNS_NAME))
    if not runs:
        return not_available("this Space is starting")
    ended_after = None
    if snapshot.ended and snapshot.position is not None:
        ended_after = dash.ended_seconds(runs[-1], snapshot.position.msn, snapshot.position.part)
    text = dash.render_manifest(runs, datetime.now(UTC), ended_after=ended_after)
    return Response(text, media_type=MANIFEST_TYPE, headers={"Cache-Control": MANIFEST_CACHE})


async def segment(request: Request, space_id: str, first_msn: int, number: int) -> Response | None:
    """The DASH segment, whole or streamed; None when the store no longer has it (the
    caller looks in the recording)."""
    store = services(request).store
    snapshot = await store.playlist(space_id)
    runs = dash.load_runs(await store.get(space_id, dash.RUNS_NAME))
    run = next((i for i, r in enumerate(runs) if r.first_msn == first_msn), None)
    if snapshot is None or snapshot.position is None or run is None:
        return None
    if number > dash.number_of(first_msn, snapshot.position.msn) + 1:
        return not_available("that segment is too far ahead of the live edge")
    # A run that another took over (a restart, a failover) ends where the next begins.
    end = runs[run + 1].first_msn if run + 1 < len(runs) else None
    pieces = [p for p in dash.pieces(first_msn, number) if end is None or p.msn < end]
    if not pieces:
        return not_available("that run ended before this segment")
    whole = [await store.get(space_id, piece.segment) for piece in pieces]
    headers = {"Cache-Control": MEDIA_CACHE}
    if all(data is not None for data in whole):
        return Response(b"".join(whole), media_type=SEGMENT_TYPE, headers=headers)  # type: ignore[arg-type]
    # The headers go out with the first chunk, not before: an edge's first-byte timeout
    # then covers the wait for a segment asked for early, and a segment that never
    # starts is a plain error rather than an empty body.
    stream = _stream(store, space_id, pieces, whole)
    try:
        first = await anext(stream)
    except StopAsyncIteration:
        return not_available("that run ended before this segment")
    except StreamCut:
        return Response("the Space's audio did not come in time", status_code=503,
                        media_type="text/plain",
                        headers={"Cache-Control": NO_STORE, "Retry-After": "1"})
    return StreamingResponse(_continued(first, stream), media_type=SEGMENT_TYPE,
                             headers=headers)


async def _continued(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


async def _stream(store: SegmentStore, space_id: str, pieces: list[dash.HlsPiece],
                  whole: list[bytes | None]) -> AsyncIterator[bytes]:
    for piece, data in zip(pieces, whole):
        if data is not None:
            yield data
            continue
        chunk: list[bytes] = []
        for index, name in enumerate(piece.parts):
            if await store.wait_for(space_id, piece.msn, index, PART_WAIT) is None:
                raise StreamCut(f"{space_id}: no part {name} in {PART_WAIT:.0f} s")
            part = await store.get(space_id, name)
            if part is None:  # the run ended here: what it made is the whole segment
                if chunk:
                    yield b"".join(chunk)
                return
            chunk.append(part)
            if len(chunk) == limits.DASH_PARTS_PER_CHUNK:
                yield b"".join(chunk)
                chunk = []
        if chunk:
            yield b"".join(chunk)
