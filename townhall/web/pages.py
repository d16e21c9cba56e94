"""Server-rendered pages. Thin on purpose: each page renders a template with ids, and its
ES module (townhall/web/static) fetches the JSON API for live state."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from townhall import __version__

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
templates = Jinja2Templates(directory=TEMPLATES_DIR)
# Static URLs carry the version so a new release is not hidden behind cached modules.
templates.env.globals["asset_version"] = __version__

router = APIRouter(include_in_schema=False)
# Space ids and invite codes are URL-safe tokens; anything longer is not ours and the
# page's JS would only get a 404 from the API, so render the page anyway but bounded.
MAX_ID_LENGTH = 64


def _page(request: Request, template: str, **context: object) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return _page(request, "home.html", page="home")


@router.get("/signin", response_class=HTMLResponse)
def signin(request: Request) -> HTMLResponse:
    return _page(request, "auth.html", page="signin", mode="signin")


@router.get("/signup", response_class=HTMLResponse)
def signup(request: Request) -> HTMLResponse:
    return _page(request, "auth.html", page="signup", mode="signup")


@router.get("/s/{space_id}", response_class=HTMLResponse)
def space(request: Request, space_id: str) -> HTMLResponse:
    return _page(request, "space.html", page="space", space_id=space_id[:MAX_ID_LENGTH])


@router.get("/s/{space_id}/invite/{code}", response_class=HTMLResponse)
def invite(request: Request, space_id: str, code: str) -> HTMLResponse:
    return _page(
        request,
        "invite.html",
        page="invite",
        space_id=space_id[:MAX_ID_LENGTH],
        code=code[:MAX_ID_LENGTH],
    )
