"""Cross-site request forgery: refuse cookie-authenticated writes from other origins.

The session cookie is SameSite=Lax, so browsers already leave it off cross-site POSTs;
this checks the Origin header as well (defence in depth, and for browsers that treat
"site" loosely). Requests without Origin (curl, OBS) and without a session cookie (WHIP
uses a bearer token) are not affected.
"""

from __future__ import annotations

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from townhall.http.common.deps import SESSION_COOKIE

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class OriginCheck(BaseHTTPMiddleware):
    def __init__(self, app, public_url: str = "") -> None:  # type: ignore[no-untyped-def]
        super().__init__(app)
        self.public_origin = public_url.rstrip("/")

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        origin = request.headers.get("origin")
        if (
            request.method not in SAFE_METHODS
            and origin is not None
            and SESSION_COOKIE in request.cookies
            and origin not in self._own_origins(request)
        ):
            return JSONResponse(
                {"code": "cross_site", "detail": f"cross-site request from {origin[:100]} refused"}, status_code=403
            )
        return await call_next(request)

    def _own_origins(self, request: Request) -> set[str]:
        own = {f"{request.url.scheme}://{request.headers.get('host', '')}"}
        if self.public_origin:
            own.add(self.public_origin)
        return own
