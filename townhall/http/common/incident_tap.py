"""Counts every answer about a Space for its incident timeline (townhall/app/incidents.py):
plain ASGI around the app, like the security headers. It notes the status, how long the
answer took, and what the error handlers put in the scope's note (`note_refusal`: the
limit a 429 named; `note_backend_failure`: a 503 because Redis or the database was
away). The client address goes no further than its network (/24, /48)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOTE = "townhall.incident"
EVIDENCE = ("/timeline", "/status")


def note_refusal(scope: Scope, limit: str) -> None:
    note = scope.get(NOTE)
    if note is not None:
        note["refused"] = limit


def note_backend_failure(scope: Scope) -> None:
    note = scope.get(NOTE)
    if note is not None:
        note["backend_failed"] = True


class IncidentTap:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        # Reading the evidence (the timeline, its page) does not change it.
        if (not path.startswith(("/hls/", "/api/spaces/", "/whip/", "/s/"))
                or path.endswith(EVIDENCE)):
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        note: dict[str, object] = {"status": 500}
        scope[NOTE] = note

        async def noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                note["status"] = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                note["done"] = time.monotonic()

        try:
            await self.app(scope, receive, noting)
        finally:
            services = getattr(scope["app"].state, "services", None) if "app" in scope else None
            if services is not None:
                client = scope.get("client")
                services.incidents.request(
                    path, scope.get("query_string", b"").decode("latin-1"),
                    client[0] if client else None, int(note["status"]),  # type: ignore[call-overload]
                    float(note.get("done", time.monotonic())) - started,  # type: ignore[arg-type]
                    refused=note.get("refused"),  # type: ignore[arg-type]
                    backend_failed=bool(note.get("backend_failed")))
