"""Signed, expiring HLS URLs for private Spaces, shaped so that edge caches still work.

The token is a path segment, not a query: `/hls/{space}/t/{exp}.{sig}/live.m3u8`, and
the playlist's relative URIs (`init.mp4`, `seg7.3.m4s`) resolve under the same prefix,
so nginx or a CDN caches every object by its path, token included. `exp` is rounded up
to a bucket (VALIDITY + up to BUCKET ahead), so everyone who asks within one bucket gets
byte-identical URLs and therefore shares the cache entries; `sig` is HMAC-SHA256 over
(space id, exp) with the server's secret (TOWNHALL_HLS_SIGNING_SECRET, else a random one
kept in the data dir; every origin of a cluster must share it).

A private Space's plain `/hls/{space}/...` URLs answer 403 (`public_only`, a dependency
on the plain routes), and so does a signed URL whose signature, exp or Space is wrong or
whose exp has passed. Public Spaces take both. The routes here check the token and then
run the plain handlers of delivery/hls.py, capping `max-age` at the token's remaining
life so no cache serves an object under an expired URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import time
from dataclasses import dataclass, field

from fastapi import APIRouter, HTTPException, Query, Request, Response

from townhall.config import MIN_SECRET_LENGTH, SECRET_FILE  # noqa: F401 (tests import them here)
from townhall.config import load_signing_secret as load_secret
from townhall.http.common.deps import services
from townhall.http.common.errors_doc import error_responses
from townhall.http.delivery import hls
from townhall.store.models import Space
from townhall.app.outages import BACKEND_ERRORS
from townhall import threads

# A URL is good for at least VALIDITY and at most VALIDITY + BUCKET: a listener's player
# asks for a new one when it gets a 403 (long Spaces) or reloads the page.
VALIDITY = 2 * 3600
BUCKET = 600
# Tolerated clock difference between the origin that signed and the one that checks.
CLOCK_SLACK = 60
SIG_BYTES = 16  # 128 bits of HMAC-SHA256, 22 base64url characters
_TOKEN = re.compile(r"(?P<exp>[1-9][0-9]{0,11})\.(?P<sig>[A-Za-z0-9_-]{22})")
# How long a node trusts its own answer to "is this Space private?" (the flag can only
# change while a Space is scheduled; this bounds a database read per Space and node).
PRIVACY_TTL = 2.0
MAX_PRIVACY_ENTRIES = 10_000
NO_STORE = {"Cache-Control": "no-store"}
PRIVATE_STREAM = ("this Space is private: its stream plays only from a signed URL "
                  "(GET /api/spaces/{id}/playback as an invited listener)")


class InvalidToken(Exception):
    """Why a signed URL is refused (the 403's message)."""


@dataclass(frozen=True)
class UrlSigner:
    secret: bytes
    validity: int = VALIDITY
    bucket: int = BUCKET

    def expiry(self, now: float) -> int:
        """The exp everyone asking at `now` gets: the bucket boundary after now + validity."""
        return math.ceil((now + self.validity) / self.bucket) * self.bucket

    def signature(self, space_id: str, exp: int) -> str:
        mac = hmac.new(self.secret, f"hls:{space_id}:{exp}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()[:SIG_BYTES]).decode().rstrip("=")

    def token(self, space_id: str, now: float) -> tuple[str, int]:
        exp = self.expiry(now)
        return f"{exp}.{self.signature(space_id, exp)}", exp

    def check(self, space_id: str, token: str, now: float) -> int:
        """The token's exp if it is valid for this Space now; else InvalidToken."""
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise InvalidToken("not a listening token")
        exp = int(match["exp"])
        if not hmac.compare_digest(match["sig"], self.signature(space_id, exp)):
            raise InvalidToken("this listening link is not valid for this Space")
        if exp <= now:
            raise InvalidToken("this listening link has expired: ask for a new one")
        if exp > self.expiry(now) + self.bucket + CLOCK_SLACK:
            raise InvalidToken("this listening link is not valid yet")
        return exp


@dataclass
class Privacy:
    """Which Spaces are private, as this node last read it (PRIVACY_TTL). A cache miss
    reads the database in a worker thread: the event loop never waits on it."""

    ttl: float = PRIVACY_TTL
    _seen: dict[str, tuple[float, bool]] = field(default_factory=dict)
    # Bumped by forget(): a read that began before it must not cache what it saw.
    _generation: int = 0

    async def is_private(self, request: Request, space_id: str) -> bool:
        now = time.monotonic()
        seen = self._seen.get(space_id)
        if seen is not None and now - seen[0] < self.ttl:
            return seen[1]
        generation = self._generation
        try:
            private = await threads.run(threads.DATABASE, _read_private, request, space_id)
        except BACKEND_ERRORS:
            if seen is None:
                raise
            # The database is away for a moment: what this node last read holds (a Space
            # changes privacy only before it starts), so listeners keep playing.
            return seen[1]
        if generation == self._generation:
            if len(self._seen) >= MAX_PRIVACY_ENTRIES:
                self._seen.clear()
            self._seen[space_id] = (now, private)
        return private

    def forget(self, space_id: str) -> None:
        self._generation += 1
        self._seen.pop(space_id, None)


def _read_private(request: Request, space_id: str) -> bool:
    """Blocking (the database): called in a worker thread."""
    with services(request).db.session() as db:
        space = db.get(Space, space_id)
        return bool(space is not None and space.private)


def signer(request: Request) -> UrlSigner:
    """This node's signer. The first call reads (or makes) the secret file: blocking, so
    call it from a plain `def` route, or through `signer_async` on the event loop."""
    state = request.app.state
    if getattr(state, "hls_signer", None) is None:
        settings = services(request).settings
        state.hls_signer = UrlSigner(load_secret(settings.hls_signing_secret, settings.data_dir))
    return state.hls_signer  # type: ignore[no-any-return]


async def signer_async(request: Request) -> UrlSigner:
    """`signer` for coroutines: the secret file is read in a worker thread, once."""
    loaded = getattr(request.app.state, "hls_signer", None)
    if loaded is not None:
        return loaded  # type: ignore[no-any-return]
    return await threads.run(threads.FILES, signer, request)


def privacy(request: Request) -> Privacy:
    state = request.app.state
    if getattr(state, "hls_privacy", None) is None:
        state.hls_privacy = Privacy()
    return state.hls_privacy  # type: ignore[no-any-return]


def signed_base(request: Request, base: str, space_id: str) -> tuple[str, int]:
    """`{base}/hls/{space}/t/{token}` and its exp."""
    token, exp = signer(request).token(space_id, time.time())
    return f"{base}/hls/{space_id}/t/{token}", exp


def _forbidden(message: str) -> HTTPException:
    return HTTPException(403, message, headers=NO_STORE)


async def public_only(space_id: str, request: Request) -> None:
    """On the plain /hls routes: a private Space's stream is not there (403). Runs before
    the handler, so a plain request never opens a private Space's waiting room."""
    if hls._SPACE_ID.fullmatch(space_id) and await privacy(request).is_private(request, space_id):
        raise _forbidden(PRIVATE_STREAM)


# -- the signed routes -------------------------------------------------------------------
FORBIDDEN_DOC = error_responses(403, text=(403,))
router = APIRouter(prefix="/hls/{space_id}/t/{token}", tags=["hls"],
                   responses=error_responses(400, 403, 404, 422, 503, text=(404, 503)))
_PLAYLIST_DOC, _MEDIA_DOC = hls._PLAYLIST_DOC, hls._MEDIA_DOC  # same answers as the plain routes
_MAX_AGE = re.compile(r"max-age=(\d+)")


async def _check(request: Request, space_id: str, token: str) -> int:
    url_signer = await signer_async(request)
    try:
        return url_signer.check(space_id, token, time.time())
    except InvalidToken as exc:
        raise _forbidden(str(exc)) from None


def _capped(response: Response, exp: int) -> Response:
    """No cache may keep an object past the token's life (it would answer for it after)."""
    remaining = max(0, int(exp - time.time()))
    cache = response.headers.get("cache-control", "")
    match = _MAX_AGE.search(cache)
    if match and int(match[1]) > remaining:
        response.headers["cache-control"] = cache.replace(match[0], f"max-age={remaining}")
    return response


@router.get("/live.m3u8", response_class=Response, responses=_PLAYLIST_DOC)
async def signed_live_playlist(
    space_id: str,
    token: str,
    request: Request,
    hls_msn: int | None = Query(None, alias="_HLS_msn", ge=0, le=hls.MAX_MSN),
    hls_part: int | None = Query(None, alias="_HLS_part", ge=0, le=hls.MAX_PART),
) -> Response:
    exp = await _check(request, space_id, token)
    return _capped(await hls.live_playlist(space_id, request, hls_msn, hls_part), exp)


@router.get("/replay.m3u8", response_class=Response, responses=_PLAYLIST_DOC)
async def signed_replay(space_id: str, token: str, request: Request) -> Response:
    exp = await _check(request, space_id, token)
    return _capped(await hls.replay(space_id, request), exp)


@router.get("/{name}", response_class=Response, responses=_MEDIA_DOC)
async def signed_media_object(space_id: str, token: str, name: str, request: Request) -> Response:
    exp = await _check(request, space_id, token)
    return _capped(await hls.media_object(space_id, name, request), exp)
