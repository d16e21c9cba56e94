"""The home feed: Following first, then Discover with the reasons for every card
(townhall/app/home.py; the formula: townhall/domain/discover.py, README "How Discover
ranks")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from townhall import threads
from townhall.app.home import HomeOut, home
from townhall.http.common.deps import current_user, public_base, services
from townhall.http.common.errors_doc import API_ERRORS
from townhall.store.models import User, utcnow

router = APIRouter(prefix="/api", tags=["home"], responses=API_ERRORS)
Viewer = Annotated[User | None, Depends(current_user)]


@router.get("/home", response_model=HomeOut)
async def home_feed(request: Request, response: Response, viewer: Viewer) -> HomeOut:
    """Signed in: `following` (live, then upcoming Spaces whose host you follow, nothing
    else), `yours`, then `discover` (everyone else's, ranked, each card with `score` and
    `reasons`; empty with `discover_enabled` false when you turned it off). Signed out:
    Discover only, ranked by what everyone sees (listening now, reminders, how soon)."""
    svc = services(request)
    response.headers["Cache-Control"] = "private, no-store"  # it is about this viewer
    return await threads.run(threads.DATABASE, home, svc.db, viewer.id if viewer else None,
                             public_base(request), utcnow(), svc.settings.upcoming_grace,
                             svc.live_facts)
