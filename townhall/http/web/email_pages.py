"""The pages an emailed link opens (a GET): what it will do and a button that does it
(a POST to the same address, townhall/http/api/email.py). Acting on the GET itself
would let any link scanner or mail preview unsubscribe or confirm for the reader."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from townhall.app.mailer import WHAT
from townhall.domain.errors import ClientError
from townhall.http.api.email import email_links
from townhall.http.web.pages import templates

router = APIRouter(include_in_schema=False)


def _bad_link(request: Request, message: str) -> HTMLResponse:
    return templates.TemplateResponse(request, "email_link.html", {
        "page": "email-link", "eyebrow": "Email link", "heading": "This link does not work",
        "message": message, "action": None, "button": None}, status_code=400)


@router.get("/api/unsubscribe", response_class=HTMLResponse)
async def unsubscribe_page(request: Request, token: str = "") -> HTMLResponse:
    try:
        _, kind = (await email_links(request)).read_unsubscribe(token)
    except ClientError as exc:
        return _bad_link(request, exc.message)
    return templates.TemplateResponse(request, "email_link.html", {
        "page": "email-link", "eyebrow": "Unsubscribe", "heading": f"Stop {WHAT[kind]}?",
        "message": "Only these emails stop: you still see them in the app, and other "
                   "emails keep coming.",
        "action": f"/api/unsubscribe?token={token}", "button": "Unsubscribe"})


@router.get("/api/email/confirm", response_class=HTMLResponse)
async def confirm_page(request: Request, token: str = "") -> HTMLResponse:
    try:
        (await email_links(request)).read_confirm(token)
    except ClientError as exc:
        return _bad_link(request, exc.message)
    return templates.TemplateResponse(request, "email_link.html", {
        "page": "email-link", "eyebrow": "Your email address",
        "heading": "Confirm your email address?",
        "message": "Townhall then emails you the notifications you chose.",
        "action": f"/api/email/confirm?token={token}", "button": "Confirm"})
