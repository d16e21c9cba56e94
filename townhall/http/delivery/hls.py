"""HLS origin endpoints. Stateless apart from the segment store and the recordings.

Cache-Control is written for a CDN in front: media objects never change (immutable),
a live playlist changes every part (cache ~1 s), a blocking-reload answer is unique to
its query so it may be cached a little longer, and "not yet" answers are never cached.
"""

from __future__ import annotations


from datetime import UTC, datetime

from fastapi import APIRouter, Query, Request, Response

from townhall import limits
from townhall.http.common.deps import services
from townhall.domain.ids import SPACE_ID
from townhall.http.common.errors_doc import error_responses
from townhall.http.delivery import dash as dash_delivery
from townhall.http.delivery import stream as stream_delivery
from townhall.domain.errors import TAKEN_DOWN, BadRequest, Gone, NotFound
from townhall.media.captions.vtt import (MASTER_NAME, SUBS_PLAYLIST_NAME, parse_subs_name,
                                         render_master)
from townhall.media import dash, listen_stream
from townhall.media.llhls import INIT_NAME, LivePlaylist, parse_media_name
from townhall.app.recordings import trimmed_playlist
from townhall.domain.recordings import RECORDING_DELETED
from townhall.media.recorder import read_recorded
from townhall.media.segment_store import PlaylistSnapshot
from townhall import threads

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
# "Not yet" answers (a Space not live, a part that did not come) are plain text.
router = APIRouter(prefix="/hls", tags=["hls"],
                   responses=error_responses(400, 404, 410, 422, 503, text=(404, 503)))
_PLAYLIST_DOC = {200: {"content": {PLAYLIST_TYPE: {"schema": {"type": "string"}}}}}
_MEDIA_DOC = {200: {"content": {t: {"schema": {"type": "string", "format": "binary"}}
                                for t in ("video/mp4", "video/iso.segment")}}}
MEDIA_CACHE = "public, max-age=31536000, immutable"
LIVE_PLAYLIST_CACHE = "public, max-age=1"
BLOCKING_PLAYLIST_CACHE = "public, max-age=6"
NO_STORE = "no-store"
# Largest msn/part a client may name: far beyond any real Space (a year of segments).
MAX_MSN = 10**8
MAX_PART = 1000

_DEFAULT = LivePlaylist()
TARGET_DURATION = _DEFAULT.target_duration
BLOCK_TIMEOUT = limits.BLOCKING_RELOAD_TARGET_DURATIONS * TARGET_DURATION


def _playlist_response(snapshot: PlaylistSnapshot, cache: str) -> Response:
    return Response(snapshot.text, media_type=PLAYLIST_TYPE, headers={"Cache-Control": cache})


# Space ids name recording directories: nothing else (NUL, "..") reaches the filesystem.
_SPACE_ID = SPACE_ID


def _check_space_id(space_id: str) -> None:
    if not _SPACE_ID.fullmatch(space_id):
        raise NotFound("no such Space")


# Outside `router`: the clock belongs to no Space (no privacy check).
clock_router = APIRouter(prefix="/hls", tags=["hls"])


@clock_router.get("/clock", response_class=Response)
def clock() -> Response:
    """The server's time (ISO 8601): DASH players sync to it (MPD UTCTiming), because a
    live DASH segment is found by the wall clock."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return Response(now, media_type="text/plain", headers={"Cache-Control": NO_STORE})


@router.get("/{space_id}/live.m3u8", response_class=Response, responses=_PLAYLIST_DOC)
async def live_playlist(
    space_id: str,
    request: Request,
    hls_msn: int | None = Query(None, alias="_HLS_msn", ge=0, le=MAX_MSN),
    hls_part: int | None = Query(None, alias="_HLS_part", ge=0, le=MAX_PART),
) -> Response:
    _check_space_id(space_id)
    if hls_part is not None and hls_msn is None:
        raise BadRequest("_HLS_part needs _HLS_msn")
    store = services(request).store
    snapshot = await _live_snapshot(request, space_id)
    if isinstance(snapshot, Response):
        return snapshot
    if hls_msn is None:
        return _playlist_response(snapshot, LIVE_PLAYLIST_CACHE)
    newest = snapshot.position.msn if snapshot.position else -1
    if hls_msn > newest + limits.BLOCKING_RELOAD_MAX_SEGMENTS_AHEAD:
        # RFC 8216bis 6.2.5.2: a request too far in the future is a client error.
        raise BadRequest(f"_HLS_msn {hls_msn} is too far ahead of the live edge ({newest})")
    ready = await store.wait_for(space_id, hls_msn, hls_part, BLOCK_TIMEOUT)
    if ready is None:
        return Response("playlist did not reach that position in time", status_code=503,
                        media_type="text/plain",
                        headers={"Cache-Control": NO_STORE, "Retry-After": "1"})
    return _playlist_response(ready, BLOCKING_PLAYLIST_CACHE)


async def _live_snapshot(request: Request, space_id: str) -> PlaylistSnapshot | Response:
    """The live playlist, or the answer for a Space not live (yet). Opens a scheduled
    Space's waiting room; holds a Space just gone live until its first part exists."""
    svc = services(request)
    store = svc.store
    snapshot = await store.playlist(space_id)
    on_air = snapshot is not None or await svc.on_air(space_id)
    if not on_air:
        on_air = await _open_waiting_room(request, space_id)
    if snapshot is None and on_air:
        snapshot = await store.wait_for(space_id, -1, None, BLOCK_TIMEOUT)
    if snapshot is None:
        return _not_live_yet(on_air)
    return snapshot


async def _open_waiting_room(request: Request, space_id: str) -> bool:
    return await services(request).host.open_waiting_room(space_id)


def _not_live_yet(on_air: bool) -> Response:
    message = "this Space is starting" if on_air else "this Space is not live"
    return Response(message, status_code=404, media_type="text/plain",
                    headers={"Cache-Control": NO_STORE})


async def _unless_taken_down(request: Request, space_id: str) -> None:
    """A replay an operator took down is gone (410, on the transparency log): its
    playlist and recorded objects are refused here; an edge keeps what it cached until
    it expires (the playlist: 60 s) or is purged."""
    entry = await threads.run(threads.DATABASE, services(request).moderation.taken_down,
                              space_id)
    if entry is not None:
        raise Gone(f"An operator took this replay down (transparency log entry {entry}: "
                   f"/transparency#entry-{entry}).", code=TAKEN_DOWN)


@router.get("/{space_id}/replay.m3u8", response_class=Response, responses=_PLAYLIST_DOC)
async def replay(space_id: str, request: Request) -> Response:
    _check_space_id(space_id)
    await _unless_taken_down(request, space_id)
    svc = services(request)
    directory = svc.settings.recordings_path / space_id
    # The host's trim (townhall/app/recordings.py): whole segments outside it are left out.
    trim, deleted = await threads.run(threads.DATABASE, svc.recordings.trim_of, space_id)
    if deleted:
        raise Gone("The host deleted this recording.", code=RECORDING_DELETED)
    made = await threads.run(threads.FILES, trimmed_playlist, directory, trim, TARGET_DURATION)
    text = made[0] if made is not None else None
    if text is None:
        raise NotFound("no recording for this Space")
    live = await services(request).on_air(space_id)
    # While the Space is live the recording grows; once ended the replay is final.
    cache = LIVE_PLAYLIST_CACHE if live else "public, max-age=60"
    return Response(text, media_type=PLAYLIST_TYPE, headers={"Cache-Control": cache})


@router.get("/{space_id}/{name}", response_class=Response, responses=_MEDIA_DOC)
async def media_object(space_id: str, name: str, request: Request) -> Response:
    _check_space_id(space_id)
    if name in (MASTER_NAME, SUBS_PLAYLIST_NAME) or parse_subs_name(name) is not None:
        return await _subtitles(request, space_id, name)
    if name in (listen_stream.STREAM_NAME, listen_stream.ACCESS_NAME):
        snapshot = await _live_snapshot(request, space_id)
        if name == listen_stream.ACCESS_NAME:
            # An edge's auth_request passes only 2xx, 401 and 403 on.
            return stream_delivery.access(playable=not isinstance(snapshot, Response))
        if isinstance(snapshot, Response):
            return snapshot
        return stream_delivery.stream(request, space_id, snapshot)
    if name == dash.MANIFEST_NAME:
        snapshot = await _live_snapshot(request, space_id)
        if isinstance(snapshot, Response):
            return snapshot
        return await dash_delivery.manifest(request, space_id, snapshot)
    dash_name = dash.parse_segment_file(name)
    if dash_name is not None:
        answer = await dash_delivery.segment(request, space_id, *dash_name)
        return answer or dash_delivery.not_available("not available")
    svc = services(request)
    parsed = parse_media_name(name)
    if name != INIT_NAME and parsed is None:
        raise NotFound("no such HLS object")
    data = await svc.store.get(space_id, name)
    if data is None and parsed is not None:
        data = await _wait_for_hinted_part(request, space_id, name, parsed)
    if data is None:
        await _unless_taken_down(request, space_id)
        data = await threads.run(threads.FILES, read_recorded, svc.settings.recordings_path / space_id, name)
    if data is None:
        return Response("not available", status_code=404, media_type="text/plain",
                        headers={"Cache-Control": NO_STORE})
    media_type = "video/mp4" if name == INIT_NAME else "video/iso.segment"
    return Response(data, media_type=media_type, headers={"Cache-Control": MEDIA_CACHE})


async def _wait_for_hinted_part(
    request: Request, space_id: str, name: str, parsed: tuple[int, int | None]
) -> bytes | None:
    """A preload-hinted part is requested before it exists: hold the request until it
    does (LL-HLS 'blocking preload'), but only for the next part or two."""
    msn, part = parsed
    store = services(request).store
    snapshot = await store.playlist(space_id)
    if snapshot is None or snapshot.position is None or snapshot.ended:
        return None
    position = snapshot.position
    nearby = (msn == position.msn and part is not None and part <= position.part + 2) or (
        msn == position.msn + 1 and part is not None and part <= 1
    )
    if not nearby:
        return None
    if await store.wait_for(space_id, msn, part, BLOCK_TIMEOUT) is None:
        return None
    return await store.get(space_id, name)


SUBTITLES_TYPE = "text/vtt"


async def _subtitles(request: Request, space_id: str, name: str) -> Response:
    """The multivariant playlist (the audio and its WebVTT captions rendition), the
    subtitles playlist and its segments (townhall/media/captions/vtt.py). While the Space
    is on air only: its replay's words are in the transcript (GET .../transcript.vtt)."""
    store = services(request).store
    if name == MASTER_NAME:
        if await store.playlist(space_id) is None and not await services(request).on_air(space_id):
            return _not_live_yet(False)
        return Response(render_master(), media_type=PLAYLIST_TYPE,
                        headers={"Cache-Control": "public, max-age=60"})
    data = await store.get(space_id, name)
    if data is None:
        return Response("not available", status_code=404, media_type="text/plain",
                        headers={"Cache-Control": NO_STORE})
    if name == SUBS_PLAYLIST_NAME:
        return Response(data, media_type=PLAYLIST_TYPE,
                        headers={"Cache-Control": LIVE_PLAYLIST_CACHE})
    return Response(data, media_type=SUBTITLES_TYPE, headers={"Cache-Control": MEDIA_CACHE})
