"""The FastAPI application: one lifespan owns every resource (like Starlette's)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DataError, InterfaceError, OperationalError

from townhall import __version__, limits
from townhall.http.common.csrf import OriginCheck
from townhall.http.common.deps import SessionCache
from townhall.http.common.gate import WriteGate
from townhall.http.common import validation
from townhall.http.api import (audience, auth, follows, live, moderation, private, push,
                               search, spaces, users, whip)
from townhall.http.api import settings as settings_api
from townhall.http.api import email as email_api
from townhall.http.api import home
from townhall.http.api import operator as operator_api
from townhall.http.api import incidents as incidents_api
from townhall.http.api import captions as captions_api
from townhall.config import Settings
from townhall.http.delivery import avatars, hls, signed
from townhall.http.delivery import downloads
from townhall.http.api import clips as clips_api
from townhall.http.web import clip_pages
from townhall.domain import errors
from townhall.domain.errors import ClientError, Forbidden, NotFound
from townhall.http.common.headers import SecurityHeaders
from townhall.http.common.incident_tap import IncidentTap, note_backend_failure, note_refusal
from townhall.app.metrics import CONTENT_TYPE
from townhall.backends.ratelimit import TooManyRequests
from townhall.app.runtime import Services
from townhall.http.web import pages
from townhall.http.web import email_pages
from townhall.http.web import moderation_pages

log = logging.getLogger(__name__)
# Codes for errors Starlette raises itself, and for HTTPException raised by routes.
HTTP_CODES = {403: "forbidden", 404: "not_found", 405: "method_not_allowed",
              413: "payload_too_large"}
# The database or Redis away for a moment: 503, and a client may retry this soon (a
# PostgreSQL restart or a Redis failover takes a few seconds).
BACKEND_ERRORS = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError)
BACKEND_RETRY_AFTER = 2
STATIC_DIR = Path(__file__).resolve().parent / "web" / "static"
# dash.js's player without DRM, reporting or offline (what the LL-DASH listener needs).
DASHJS_FILE = "dash.mediaplayer.min.js"

OnStart = Callable[[Services], Awaitable[None]]


def wants_html(request: Request) -> bool:
    """A browser opening a page (not the JSON API, not a player or a script): its
    errors are pages in the site's style, not JSON."""
    path = request.url.path
    if path == "/api" or path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("accept", "")


def create_app(settings: Settings | None = None, on_start: OnStart | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = Services.create(settings)
        app.state.services = services
        await services.start()
        await services.resume_live_spaces()
        if on_start is not None:
            await on_start(services)
        try:
            yield
        finally:
            await services.close()

    app = FastAPI(title="Townhall", version=__version__, lifespan=lifespan,
                  max_body_size=limits.MAX_REQUEST_BODY_BYTES)
    app.add_middleware(OriginCheck, public_url=settings.public_url)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(WriteGate)  # outermost of ours: a write waiting its turn does nothing
    app.add_middleware(IncidentTap)  # counts every answer, a write's wait included
    app.state.sessions = SessionCache()

    @app.exception_handler(ClientError)
    async def client_error(request: Request, exc: ClientError) -> Response:
        headers = {}
        metrics = request.app.state.services.metrics
        metrics.client_errors.labels(str(exc.status)).inc()
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            headers["Retry-After"] = str(retry_after)
        if isinstance(exc, TooManyRequests):
            metrics.rate_limited.labels(exc.limit).inc()
            note_refusal(request.scope, exc.limit)
        if wants_html(request):
            response = pages.error_page(request, exc.status)
            response.headers.update(headers)
            return response
        body: dict[str, object] = {"code": exc.code, "detail": exc.message}
        if exc.field:
            body["fields"] = {exc.field: exc.message}
        return JSONResponse(body, status_code=exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """Starlette's own answers (no such route, wrong method) get a code too, and a
        person's browser gets a page."""
        if wants_html(request):
            response = pages.error_page(request, exc.status_code)
            response.headers.update(exc.headers or {})
            return response
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return JSONResponse({"code": code, "detail": str(exc.detail)},
                            status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        """A bug: a page saying so for people, a JSON body for clients (Starlette still
        logs the traceback)."""
        if wants_html(request):
            return pages.error_page(request, 500)
        return JSONResponse({"code": errors.INTERNAL_ERROR,
                             "detail": "Something went wrong on the server. Try again."},
                            status_code=500)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        """In plain words, per input (townhall/http/common/validation.py): `fields` maps
        each input's name to its sentence, `detail` says it all in one go."""
        detail, fields = validation.explain(exc.errors())
        return JSONResponse({"code": errors.INVALID_REQUEST, "detail": detail,
                             "fields": fields}, status_code=422)

    async def backend_unavailable(request: Request, exc: Exception) -> Response:
        """The database or Redis went away mid-request (a restart, a failover): a clear
        503 the client may retry, never a 500. Live audio does not depend on either."""
        log.warning("backend unavailable for %s %s: %s", request.method, request.url.path,
                    str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
        request.app.state.services.metrics.client_errors.labels("503").inc()
        note_backend_failure(request.scope)
        headers = {"Retry-After": str(BACKEND_RETRY_AFTER)}
        if wants_html(request):
            response = pages.error_page(request, 503)
            response.headers.update(headers)
            return response
        return JSONResponse({"code": errors.BACKEND_UNAVAILABLE,
                             "detail": "The service is restarting part of itself: try again in "
                                       f"{BACKEND_RETRY_AFTER} seconds."},
                            status_code=503, headers=headers)

    for kind in BACKEND_ERRORS:
        app.add_exception_handler(kind, backend_unavailable)

    @app.exception_handler(DataError)
    async def unstorable_text(request: Request, exc: DataError) -> Response:
        """PostgreSQL refuses NUL in text (SQLite stores it): whatever field or path it
        came in, the client gets a clear 400, not a 500. Other data errors are bugs."""
        if "NUL" not in str(exc.orig):
            raise exc
        request.app.state.services.metrics.client_errors.labels("400").inc()
        return JSONResponse({"code": errors.INVALID_REQUEST,
                             "detail": "text must not contain NUL (0x00) characters"},
                            status_code=400)

    @app.get("/healthz", tags=["operations"])
    def health(request: Request) -> dict[str, str | int]:
        services = request.app.state.services
        return {"status": "ok", "live_spaces": len(services.media)}

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def metrics(request: Request) -> Response:
        """Prometheus metrics (see README, Operations), for TOWNHALL_METRICS_NETWORKS only."""
        if not settings.may_read_metrics(request.client.host if request.client else None):
            raise Forbidden("metrics are for the operators' own networks (TOWNHALL_METRICS_NETWORKS)")
        body = request.app.state.services.metrics.render()
        return Response(body, media_type=CONTENT_TYPE)

    @app.get("/vendor/{name}", include_in_schema=False)
    def vendor(name: str) -> Response:
        # hls.js and dash.js from npm (node_modules), never committed: only their dist
        # builds are served.
        if name in ("hls.mjs", "hls.min.js", "hls.light.mjs"):
            path, package = settings.hlsjs_dir / name, "hls.js"
        elif name == DASHJS_FILE:
            path, package = settings.dashjs_dir / name, "dash.js"
        else:
            raise NotFound("no such vendor file")
        if not path.is_file():
            raise NotFound(f"{package} is not installed: run the setup step (make setup)")
        return FileResponse(path, media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=3600"})

    routers = (auth.router, spaces.router, moderation.router, live.router, audience.router,
               users.router, follows.router, search.router, settings_api.router, push.router,
               whip.router, private.router, signed.router, avatars.router, home.router,
               incidents_api.router, captions_api.router, pages.router)
    # Before the HLS routers: their `/{name}` would take `replay.m4a`.
    app.include_router(downloads.signed_router)
    app.include_router(downloads.router)
    for router in routers:
        app.include_router(router)
    # Clips, the recording's trim and deletion, clip pages and podcast feeds.
    app.include_router(clips_api.router)
    app.include_router(clip_pages.router)
    # Emailed links: one-click unsubscribe and address confirmation (POST), and the
    # pages their GET opens.
    app.include_router(email_api.router)
    app.include_router(email_pages.router)
    # Operator moderation and the public transparency log (API and pages).
    app.include_router(operator_api.router)
    app.include_router(moderation_pages.router)
    app.include_router(hls.clock_router)
    # A private Space's plain HLS URLs answer 403: it plays from signed ones only.
    app.include_router(hls.router, dependencies=[Depends(signed.public_only)],
                       responses=signed.FORBIDDEN_DOC)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
