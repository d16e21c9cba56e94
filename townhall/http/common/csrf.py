"""Cross-site request forgery: refuse cookie-authenticated writes from other origins.

The session cookie is SameSite=Lax, so browsers already leave it off cross-site POSTs;
this checks the Origin header as well (defence in depth, and for browsers that treat
"site" loosely). Requests without Origin (curl, OBS) and without a session cookie (WHIP
uses a bearer token) are not affected.

A plain ASGI middleware: Starlette's BaseHTTPMiddleware runs every request (SSE and
blocking playlist reloads too) through extra tasks and streams on the event loop.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from townhall.http.common.deps import SESSION_COOKIES

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class OriginCheck:
    def __init__(self, app: ASGIApp, public_url: str = "") -> None:
        self.app = app
        self.public_origin = public_url.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            request = Request(scope)
            origin = request.headers.get("origin")
            if (origin is not None and any(c in request.cookies for c in SESSION_COOKIES)
                    and origin not in self._own_origins(request)):
                refused = JSONResponse({"code": "cross_site",
                                        "detail": f"cross-site request from {origin[:100]} refused"},
                                       status_code=403)
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _own_origins(self, request: Request) -> set[str]:
        own = {f"{request.url.scheme}://{request.headers.get('host', '')}"}
        if self.public_origin:
            own.add(self.public_origin)
        return own
