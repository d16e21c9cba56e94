"""Avatars served to pages and clients, from the database (every origin of a cluster
has them) or, for placeholders, made from the URL alone.

URLs name a version (townhall/app/avatars.py), so an answer never changes: immutable,
for browsers and any CDN in front. A URL whose version is no longer the person's
(they uploaded another, or removed theirs) redirects, uncached, to their current face,
so a page holding an old link still shows them.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse

from townhall import limits, threads
from townhall.app import avatars
from townhall.domain.errors import NotFound
from townhall.http.common.deps import services
from townhall.http.common.errors_doc import error_responses
from townhall.store import profiles

router = APIRouter(prefix="/avatars", tags=["avatars"], responses=error_responses(404, 422))
IMMUTABLE = "public, max-age=31536000, immutable"
# User ids are SQLite integers; a larger one in a path is not sent to the database.
MAX_USER_ID = 2**31 - 1
UserId = Annotated[int, Path(ge=1, le=MAX_USER_ID)]
VERSION = re.compile(r"[0-9a-f]{16}")
# An SVG opened on its own is a document: it may load nothing and run nothing.
SVG_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
               "X-Content-Type-Options": "nosniff"}


def _doc(media_type: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
              "description": "The image (immutable)"},
        304: {"description": "Not modified (If-None-Match)"},
        307: {"description": "This version is no longer theirs: their current avatar"},
    }


def _not_modified(request: Request, etag: str) -> bool:
    wanted = request.headers.get("if-none-match", "")
    return etag in (part.strip().removeprefix("W/") for part in wanted.split(",")) or (
        wanted.strip() == "*")


@router.get("/{user_id}/{version}/{size}.webp", response_class=Response,
            responses=_doc("image/webp"))
async def uploaded(user_id: UserId, version: str, size: int, request: Request) -> Response:
    """An uploaded avatar, AVATAR_SIZE or AVATAR_SMALL_SIZE px square."""
    if size not in avatars.SIZES or not VERSION.fullmatch(version):
        raise NotFound("no such avatar")
    etag = f'"{version}-{size}"'
    if _not_modified(request, etag):  # a URL's image never changes
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": IMMUTABLE})
    stored = await threads.run(threads.DATABASE, _load, request, user_id,
                               size == limits.AVATAR_SMALL_SIZE)
    if stored is None:
        raise NotFound("no such avatar")
    if stored.version != version or stored.image is None:
        large, small = avatars.urls(stored.user_id, stored.version, stored.display_name,
                                    stored.username)
        current = small if size == limits.AVATAR_SMALL_SIZE else large
        return RedirectResponse(current, status_code=307, headers={"Cache-Control": "no-cache"})
    return Response(stored.image, media_type="image/webp",
                    headers={"ETag": etag, "Cache-Control": IMMUTABLE,
                             "X-Content-Type-Options": "nosniff"})


def _load(request: Request, user_id: int, small: bool) -> profiles.StoredAvatar | None:
    with services(request).db.session() as db:
        return profiles.load_avatar(db, user_id, small)


@router.get("/{user_id}/initials/{text}.svg", response_class=Response,
            responses=_doc("image/svg+xml"))
async def placeholder(user_id: UserId, text: str, request: Request) -> Response:
    """Someone's initials on their colour: for people without an uploaded avatar."""
    if not avatars.valid_initials(text):
        raise NotFound("no such avatar")
    svg = avatars.placeholder_svg(user_id, text)
    etag = f'"{hashlib.sha256(svg).hexdigest()[:16]}"'
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE, **SVG_HEADERS}
    if _not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(svg, media_type="image/svg+xml", headers=headers)
