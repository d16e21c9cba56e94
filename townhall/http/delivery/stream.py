"""The one-stream listener path at the origin (townhall/media/listen_stream.py): one
response per listener for the whole Space, a chunk of fMP4 fragments as it is made.

An edge with Nchan (townhall/edge/nginx.conf.j2) serves this URL itself from the chunks
the mixing origin publishes to it (townhall/backends/stream_edges.py), so at scale no
listener's stream reaches an origin; without an edge (`townhall demo`, a small server)
the origin serves it here, reading the parts from the segment store like every other
delivery path, so it works on any origin of a cluster and goes on across a failover.

It starts with the chunk being made (the parts of it already out), so a player has
audio at once, then sends each chunk as its last part lands. It ends when the Space
ends, or when no part came for PART_WAIT (the player reconnects).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from townhall import limits
from townhall.http.common.deps import services
from townhall.http.delivery.dash import PART_WAIT
from townhall.media import listen_stream
from townhall.media.llhls import part_name
from townhall.media.segment_store import PlaylistSnapshot, SegmentStore

NO_STORE = "no-store"


def access(playable: bool) -> Response:
    """204: this URL may play the stream now (the caller checked the Space and any token);
    403: the Space is not live (an edge answers its listener 403, and the player tries
    again in a moment)."""
    if not playable:
        return Response("this Space is not live", status_code=403, media_type="text/plain",
                        headers={"Cache-Control": NO_STORE})
    return Response(status_code=204, headers={"Cache-Control": NO_STORE})


def stream(request: Request, space_id: str, snapshot: PlaylistSnapshot) -> Response:
    store = services(request).store
    # Never cached or buffered: every listener's bytes are its own from here on.
    return StreamingResponse(_chunks(store, space_id, snapshot), media_type=listen_stream.STREAM_TYPE,
                             headers={"Cache-Control": NO_STORE, "X-Accel-Buffering": "no"})


async def _chunks(store: SegmentStore, space_id: str,
                  snapshot: PlaylistSnapshot) -> AsyncIterator[bytes]:
    if snapshot.position is None:
        return
    msn, index = snapshot.position.msn, listen_stream.chunk_start(snapshot.position.part)
    chunk: list[bytes] = []
    while True:
        data = await store.get(space_id, part_name(msn, index))
        if data is None:
            now = await store.wait_for(space_id, msn, index, PART_WAIT)
            if now is None or now.position is None or not now.position.has(msn, index):
                break  # no part in time, or the Space ended before it
            data = await store.get(space_id, part_name(msn, index))
            if data is None and now.position.has(msn, None):
                # The segment ended before this part (a run's last, short segment).
                if chunk:
                    yield b"".join(chunk)
                    chunk = []
                msn, index = msn + 1, 0
                continue
            if data is None:
                break
        chunk.append(data)
        if listen_stream.ends_chunk(index):
            yield b"".join(chunk)
            chunk = []
        msn, index = _next(msn, index)
    if chunk:
        yield b"".join(chunk)


def _next(msn: int, index: int) -> tuple[int, int]:
    """The part after (msn, index): a segment has limits.PARTS_PER_SEGMENT parts unless a
    run ended it early (then the next part's name is missing and the loop moves on)."""
    return (msn, index + 1) if index + 1 < limits.PARTS_PER_SEGMENT else (msn + 1, 0)

