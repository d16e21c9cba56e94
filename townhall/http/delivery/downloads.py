"""The replay as one .m4a: GET /hls/{space}/replay.m4a, and its signed twin under
/hls/{space}/t/{token}/ for a private Space (the same token as its stream's URLs).

Made on first request (townhall/app/recordings.py: remuxed, never re-encoded; trimmed as
the host set it) and served from its file with HTTP Range (Starlette's FileResponse:
206 with Content-Range for one range, 416 outside the file), ETag and Last-Modified.
Routes here are included before delivery/hls.py's `/{name}` ones, which would take the
name otherwise.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse

from townhall.domain.errors import NotFound
from townhall.http.common.deps import services
from townhall.http.common.errors_doc import error_responses
from townhall.http.delivery import hls, signed
from townhall.media.export import M4A_TYPE

# A trim changes what the URL holds: caches keep it a minute, and revalidate (ETag).
DOWNLOAD_CACHE = "public, max-age=60"
_DOC = {200: {"content": {M4A_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
        206: {"description": "Part of it (HTTP Range)",
              "content": {M4A_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
        416: {"description": "The range asked for is not in the file"}}

router = APIRouter(prefix="/hls", tags=["hls"], dependencies=[Depends(signed.public_only)],
                   responses=error_responses(403, 404, 410, 422, text=(403,)))
signed_router = APIRouter(prefix="/hls/{space_id}/t/{token}", tags=["hls"],
                          responses=error_responses(403, 404, 410, 422, text=(403,)))


@router.get("/{space_id}/replay.m4a", response_class=Response, responses=_DOC)
async def replay_m4a(space_id: str, request: Request) -> Response:
    """The ended Space's replay, trimmed, as one .m4a (AAC copied from the recording)."""
    hls._check_space_id(space_id)
    await hls._unless_taken_down(request, space_id)
    if await services(request).on_air(space_id):
        # JSON like every other refusal of this route (its schema says so).
        raise NotFound("the replay can be downloaded once the Space has ended")
    made = await services(request).recordings.replay_file(space_id)
    return FileResponse(made.path, media_type=M4A_TYPE, filename=f"townhall-{space_id}.m4a",
                        content_disposition_type="inline",
                        headers={"Cache-Control": DOWNLOAD_CACHE})


@signed_router.get("/replay.m4a", response_class=Response, responses=_DOC)
async def signed_replay_m4a(space_id: str, token: str, request: Request) -> Response:
    exp = await signed._check(request, space_id, token)
    return signed._capped(await replay_m4a(space_id, request), exp)
