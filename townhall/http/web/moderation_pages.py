"""Moderation pages: the public transparency log, the operators' console and a person's
standing (why they were suspended, their appeals). Each renders a template; its ES
module asks the JSON API (townhall/http/api/operator.py), which decides what this
viewer may see and do."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from townhall import limits
from townhall.domain import moderation as rules
from townhall.http.web.pages import templates

router = APIRouter(include_in_schema=False)


def _page(request: Request, template: str, page: str) -> HTMLResponse:
    return templates.TemplateResponse(request, template, {
        "page": page, "limits": limits, "reasons": rules.REASONS, "answers": rules.ANSWERS,
        "actions": rules.ACTION_LABELS, "genesis": rules.GENESIS})


@router.get("/transparency", response_class=HTMLResponse)
def transparency(request: Request) -> HTMLResponse:
    """Every operator action, newest first, monthly counts, the chain's head and how to
    check it: public."""
    return _page(request, "transparency.html", "transparency")


@router.get("/operator", response_class=HTMLResponse)
def operator(request: Request) -> HTMLResponse:
    """The console: the page asks GET /api/operator/queue (operators only: anyone else
    is told so)."""
    return _page(request, "operator.html", "operator")


@router.get("/standing", response_class=HTMLResponse)
def standing(request: Request) -> HTMLResponse:
    """Your account's standing: a suspension, actions about your Spaces, your appeals."""
    return _page(request, "standing.html", "standing")
