"""Server-rendered pages. Thin on purpose: each page renders a template with ids, and its
ES module (townhall/http/web/static) fetches the JSON API for live state.

The Space page is also the share page: its title and OpenGraph/Twitter tags are rendered
here so link previews (which run no JavaScript) show the Space.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from townhall import __version__, limits
from townhall.store import rooms as room_store
from townhall.http.common.deps import current_user_blocking, public_base
from townhall.http.api.live import REACTIONS
from townhall.app.incidents import rules_written
from townhall.domain.errors import NotFound
from townhall.store.models import User

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
templates = Jinja2Templates(directory=TEMPLATES_DIR)
# Static URLs carry the version so a new release is not hidden behind cached modules.
templates.env.globals["asset_version"] = __version__

router = APIRouter(include_in_schema=False)
# Space ids and invite codes are URL-safe tokens; anything longer is not ours and the
# page's JS would only get a 404 from the API, so render the page anyway but bounded.
MAX_ID_LENGTH = 64
STATE_LABELS = {
    "scheduled": "Scheduled", "live": "Live", "ended": "Replay", "cancelled": "Cancelled",
}
templates.env.globals["state_labels"] = STATE_LABELS
templates.env.globals["limits_search_length"] = limits.MAX_SEARCH_QUERY_LENGTH
# Link previews cut descriptions short anyway; keep the tag small.
MAX_SHARE_DESCRIPTION = 300


@dataclass(frozen=True)
class Share:
    """What a link preview shows for a Space."""

    id: str
    title: str
    description: str
    host: str
    state: str
    topics: tuple[str, ...]
    scheduled_start: str | None  # ISO 8601, UTC
    url: str


def _page(
    request: Request, template: str, status_code: int = 200, **context: object
) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context, status_code=status_code)


# Error pages for people (a browser asking for HTML anywhere but /api): what happened and
# a way on, in the site's style. The JSON API keeps its {code, detail} bodies.
ERROR_PAGES = {
    403: ("You can't see this page",
          "This page is not open to you. If someone sent you the link, ask them to invite you."),
    404: ("Page not found",
          "There is nothing at this address. The link may be mistyped or out of date."),
    405: ("Page not found", "There is no page to open at this address."),
    500: ("Something went wrong",
          "Something went wrong on our side, and it is not your fault. Try again in a moment."),
    503: ("Back in a moment",
          "Part of the service is restarting. Live audio keeps playing; reload this page in "
          "a few seconds."),
}
NO_SUCH_SPACE = ("No such Space",
                 "There is no Space at this address. Check the link you were given, or find "
                 "one that is live now on the home page.")


def error_page(request: Request, status_code: int, heading: str | None = None,
               message: str | None = None) -> HTMLResponse:
    """An HTML error page: `status_code`, with the heading and sentence for it."""
    default = ERROR_PAGES.get(status_code) or (
        ERROR_PAGES[500] if status_code >= 500 else ("This page can't be shown",
                                                     "This address did not work."))
    return _page(request, "error.html", status_code=status_code, page="error",
                 status=status_code, heading=heading or default[0],
                 message=message or default[1])


def _iso_utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


# A private Space the viewer may not see: its page says so and shows nothing of it.
PRIVATE = "private"
# A replay an operator took down: its page says so (410) and where the action is logged.
TAKEN_DOWN = "taken_down"


def _share(request: Request, space_id: str) -> Share | None | str:
    services = request.app.state.services
    with services.db.session() as db:
        try:
            space, room = room_store.load(db, space_id)
        except NotFound:
            return None
        if room.private:
            viewer = current_user_blocking(request)
            if not room.may("view", viewer.id if viewer else None):
                return PRIVATE
        if space.taken_down is not None:
            return f"{TAKEN_DOWN}:{space.taken_down}"
        host = db.get(User, room.host_id)
        description = (space.description or "").strip()
        host_name = host.username if host is not None else "someone"
        if not description:
            description = f"Live audio Space hosted by @{host_name}"
        if len(description) > MAX_SHARE_DESCRIPTION:
            description = description[: MAX_SHARE_DESCRIPTION - 1].rstrip() + "…"
        return Share(
            id=space.id,
            title=space.title,
            description=description,
            host=host_name,
            state=str(room.state),
            topics=tuple(space.topics or ()),
            scheduled_start=_iso_utc(space.scheduled_start),
            url=f"{public_base(request)}/s/{space.id}",
        )


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return _page(request, "home.html", page="home", limits=limits)


@router.get("/signin", response_class=HTMLResponse)
def signin(request: Request) -> HTMLResponse:
    return _page(request, "auth.html", page="signin", mode="signin", limits=limits)


@router.get("/signup", response_class=HTMLResponse)
def signup(request: Request) -> HTMLResponse:
    return _page(request, "auth.html", page="signup", mode="signup", limits=limits)


def _space_page(request: Request, space_id: str, template: str, page: str,
                **context: object) -> HTMLResponse:
    """A page about one Space: a "No such Space" 404 page when there is none; a private
    Space's is a 403 saying it is private, to everyone but its members."""
    space_id = space_id[:MAX_ID_LENGTH]
    share = _share(request, space_id)
    if share == PRIVATE:
        return _page(request, "private.html", status_code=403, page=page, space_id=space_id,
                     signed_in=current_user_blocking(request) is not None)
    if share is None:
        return error_page(request, 404, *NO_SUCH_SPACE)
    if isinstance(share, str) and share.startswith(TAKEN_DOWN):
        entry = share.split(":")[1]
        return error_page(request, 410, "This replay was taken down",
                          f"An operator took this Space's replay down. The action and its "
                          f"reason are on the public transparency log, entry {entry} "
                          f"(/transparency#entry-{entry}); the host can appeal it.")
    return _page(request, template, page=page, space_id=space_id, share=share, **context)


@router.get("/s/{space_id}", response_class=HTMLResponse)
def space(request: Request, space_id: str) -> HTMLResponse:
    return _space_page(request, space_id, "space.html", "space", limits=limits,
                       reactions=REACTIONS)


@router.get("/s/{space_id}/analytics", response_class=HTMLResponse)
def analytics(request: Request, space_id: str) -> HTMLResponse:
    """Audience figures of a Space, public (the JSON behind it is too)."""
    return _space_page(request, space_id, "analytics.html", "analytics")


@router.get("/s/{space_id}/status", response_class=HTMLResponse)
def status(request: Request, space_id: str) -> HTMLResponse:
    """The Space's incident timeline, public (the JSON behind it is too), with the rules."""
    return _space_page(request, space_id, "status.html", "status", rules=rules_written(),
                       limits=limits)


@router.get("/s/{space_id}/invite/{code}", response_class=HTMLResponse)
def invite(request: Request, space_id: str, code: str) -> HTMLResponse:
    # A private Space's invite still opens (accepting it is what lets its guest in).
    if _share(request, space_id[:MAX_ID_LENGTH]) is None:
        return error_page(request, 404, *NO_SUCH_SPACE)
    return _page(
        request,
        "invite.html",
        page="invite",
        space_id=space_id[:MAX_ID_LENGTH],
        code=code[:MAX_ID_LENGTH],
    )


@router.get("/u/{username}", response_class=HTMLResponse)
def profile(request: Request, username: str) -> HTMLResponse:
    return _page(
        request, "profile.html", page="profile", username=username[: limits.MAX_USERNAME_LENGTH],
        limits=limits,
        # Their replays as a podcast (townhall/app/podcast.py).
        feed_url=f"{public_base(request)}/u/{username[: limits.MAX_USERNAME_LENGTH]}/feed.xml",
    )


@router.get("/settings", response_class=HTMLResponse)
def settings(request: Request) -> HTMLResponse:
    """Your settings: the page asks GET /api/me/settings (signed in) and saves each change."""
    return _page(request, "settings.html", page="settings", limits=limits)


@router.get("/search", response_class=HTMLResponse)
def search(request: Request, q: str = "", kind: str = "spaces") -> HTMLResponse:
    """Search results: the page asks GET /api/search (what it finds, for this viewer)."""
    return _page(request, "search.html", page="search", q=q[: limits.MAX_SEARCH_QUERY_LENGTH],
                 kind="users" if kind == "users" else "spaces", limits=limits)
