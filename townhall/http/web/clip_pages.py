"""A clip's page (/c/{id}) and a host's podcast feed (/u/{username}/feed.xml).

The clip page is rendered with its audio, captions track and link-preview tags
(OpenGraph og:audio, a Twitter player card) on the server: previews run no JavaScript.
A private Space's clip is for its members only, and its page then carries no preview
tags (and asks not to be indexed), so a shared link says nothing of it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from townhall import limits
from townhall.app.podcast import FEED_TYPE
from townhall.app.recordings import Recordings
from townhall.domain.errors import ClientError, Forbidden, Gone, Unauthorized
from townhall.http.common.deps import current_user_blocking, public_base, services
from townhall.http.web.pages import MAX_ID_LENGTH, _page, error_page

router = APIRouter(include_in_schema=False)
NOT_A_CLIP = ("No such clip", "There is no clip at this address: it may have been deleted "
              "by the person who made it, or by the host, with the recording.")


def _recordings(request: Request) -> Recordings:
    return services(request).recordings  # type: ignore[no-any-return]


def _clock(seconds: float) -> str:
    whole = int(seconds)
    if whole >= 3600:
        return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"
    return f"{whole // 60}:{whole % 60:02d}"


@router.get("/c/{clip_id}", response_class=HTMLResponse)
def clip_page(request: Request, clip_id: str) -> HTMLResponse:
    viewer = current_user_blocking(request)
    try:
        clip = _recordings(request).clip(clip_id[:MAX_ID_LENGTH], viewer.id if viewer else None,
                                         public_base(request))
    except (Forbidden, Unauthorized):  # a private Space's, and not a member
        return _page(request, "private.html", status_code=403, page="clip",
                     space_id="", signed_in=viewer is not None)
    except Gone as gone:
        return error_page(request, 410, "This clip is gone", gone.message)
    except ClientError:
        return error_page(request, 404, *NOT_A_CLIP)
    return _page(request, "clip.html", page="clip", clip=clip,
                 range=f"{_clock(clip.start)}–{_clock(clip.end)}",
                 seconds=f"{clip.duration:.0f}")


@router.get("/u/{username}/feed.xml", response_class=Response)
async def podcast_feed(request: Request, username: str) -> Response:
    """RSS 2.0 with the iTunes and podcast namespaces: the host's public replays."""
    body = await _recordings(request).feed(username[: limits.MAX_USERNAME_LENGTH],
                                           public_base(request))
    return Response(body, media_type=f"{FEED_TYPE}; charset=utf-8",
                    headers={"Cache-Control": f"public, max-age={limits.FEED_CACHE_SECONDS}"})
