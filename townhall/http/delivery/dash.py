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


# A run that ended before a segment never makes it: a cacheable answer, so a player's
# retries (dash.js tries ~15 times) stop at the edge.
RUN_ENDED_CACHE = "public, max-age=60"


def run_ended() -> Response:
    return Response("that run ended before this segment", status_code=404,
                    media_type="text/plain", headers={"Cache-Control": RUN_ENDED_CACHE})


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
    known = any(r.first_msn == first_msn for r in runs)
    if snapshot is None or snapshot.position is None or not known:
        return None
    if number > dash.number_of(first_msn, snapshot.position.msn) + 1:
        return not_available("that segment is too far ahead of the live edge")
    pieces = dash.pieces(first_msn, number)
    if not _before_end(pieces[0], _end_of(runs, first_msn)):
        return run_ended()
    whole = [await store.get(space_id, piece.segment) for piece in pieces]
    headers = {"Cache-Control": MEDIA_CACHE}
    if all(data is not None for data in whole):
        return Response(b"".join(whole), media_type=SEGMENT_TYPE, headers=headers)  # type: ignore[arg-type]
    # The headers go out with the first chunk, not before: an edge's first-byte timeout
    # then covers the wait for a segment asked for early, and a segment that never
    # starts is a plain error rather than an empty body.
    stream = _stream(store, space_id, first_msn, pieces, whole)
    try:
        first = await anext(stream)
    except StopAsyncIteration:
        return run_ended()
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


def _end_of(runs: list[dash.Run], first_msn: int) -> int | None:
    """Where a run ends: the first HLS segment of the run that took it over, if any."""
    later = [r.first_msn for r in runs if r.first_msn > first_msn]
    return min(later) if later else None


def _before_end(piece: dash.HlsPiece, end: int | None) -> bool:
    return end is None or piece.msn < end


async def _run_end(store: SegmentStore, space_id: str, first_msn: int) -> int | None:
    return _end_of(dash.load_runs(await store.get(space_id, dash.RUNS_NAME)), first_msn)


async def _stream(store: SegmentStore, space_id: str, first_msn: int,
                  pieces: list[dash.HlsPiece], whole: list[bytes | None]) -> AsyncIterator[bytes]:
    """The segment's bytes, a chunk at a time, until its last part or the end of its run.
    The end is read again after every wait: a run taken over while this waited ends
    there, and the names after it (segN.i.m4s) are the next run's audio."""
    end = await _run_end(store, space_id, first_msn)
    for piece, data in zip(pieces, whole):
        if not _before_end(piece, end):
            return
        if data is not None:
            yield data
            continue
        chunk: list[bytes] = []
        for index, name in enumerate(piece.parts):
            if await store.wait_for(space_id, piece.msn, index, PART_WAIT) is None:
                raise StreamCut(f"{space_id}: no part {name} in {PART_WAIT:.0f} s")
            end = await _run_end(store, space_id, first_msn)
            part = await store.get(space_id, name) if _before_end(piece, end) else None
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
