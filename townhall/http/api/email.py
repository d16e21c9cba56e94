"""The links notification emails carry (townhall/app/mailer.py): one-click unsubscribe
(RFC 8058: a mail client POSTs `List-Unsubscribe=One-Click` to the List-Unsubscribe URL)
and the confirmation of a new address. Neither needs a session: the signed token in
the link says who and what. A GET on either link shows a page with a button that POSTs
it (townhall/http/web/email_pages.py), so a link scanner opening it changes nothing."""

from __future__ import annotations

import time

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from townhall import threads
from townhall.app.mailer import WHAT, EmailLinks, links_for
from townhall.domain.errors import ALREADY_CONFIRMED, ALREADY_UNSUBSCRIBED, Conflict, NotFound
from townhall.http.common.deps import services
from townhall.http.common.errors_doc import API_ERRORS
from townhall.store import delivery
from townhall.store.models import User

router = APIRouter(prefix="/api", tags=["email"], responses=API_ERRORS)
TOKEN_DOC = "the token from the emailed link, as it is"


class Unsubscribed(BaseModel):
    kind: str  # the kind of notification turned off (store.delivery.KINDS)
    channel: str  # always "email": the app and other channels keep it
    detail: str  # what was turned off, as a sentence
    settings_url: str  # where to change it back (a path on this site)


class Confirmed(BaseModel):
    email: str
    detail: str


async def email_links(request: Request) -> EmailLinks:
    """This node's link signer (the secret file is read in a worker thread, once)."""
    state = request.app.state
    links = getattr(state, "email_links", None)
    if links is None:
        links = await threads.run(threads.FILES, links_for, services(request).settings)
        state.email_links = links
    return links  # type: ignore[no-any-return]


def _unsubscribe(request: Request, user_id: int, kind: str) -> None:
    with services(request).db.session() as db:
        if db.get(User, user_id) is None:
            raise NotFound("The account this link was sent to no longer exists.")
        if not delivery.choose(db, user_id, kind, delivery.EMAIL, False):
            raise Conflict(f"You had already unsubscribed from {WHAT[kind]}. Turn them back "
                           "on in your settings (/settings) if you like.",
                           code=ALREADY_UNSUBSCRIBED)


@router.post("/unsubscribe", response_model=Unsubscribed)
async def unsubscribe(request: Request, token: str = Query(description=TOKEN_DOC)) -> Unsubscribed:
    """One click: turn this kind of notification off for email (the app, and Web Push,
    keep it). The body may be `List-Unsubscribe=One-Click` (RFC 8058) or empty. Twice:
    409 `already_unsubscribed`; a forged or cut token: 400 `invalid_link`."""
    user_id, kind = (await email_links(request)).read_unsubscribe(token)
    await threads.run(threads.DATABASE, _unsubscribe, request, user_id, kind)
    return Unsubscribed(kind=kind, channel=delivery.EMAIL,
                        detail=f"Done: you will get no more {WHAT[kind]}.",
                        settings_url="/settings")


def _confirm(request: Request, links: EmailLinks, user_id: int, exp: int, sig: str) -> str:
    with services(request).db.session() as db:
        user = db.get(User, user_id)
        if user is None:
            raise NotFound("The account this link was sent to no longer exists.")
        # An account whose address changed (or went) since: the signature cannot match.
        links.confirms(user_id, exp, sig, user.email or "", time.time())
        if user.email_confirmed:
            raise Conflict(f"{user.email} is already confirmed.", code=ALREADY_CONFIRMED)
        user.email_confirmed = True
        return str(user.email)


@router.post("/email/confirm", response_model=Confirmed)
async def confirm_email(request: Request,
                        token: str = Query(description=TOKEN_DOC)) -> Confirmed:
    """Prove an email address is yours (the link emailed to it): notification emails go
    to it from now on. A link for an address no longer on the account, altered or
    expired: 400 `invalid_link`; twice: 409 `already_confirmed`."""
    links = await email_links(request)
    user_id, exp, sig = links.read_confirm(token)
    address = await threads.run(threads.DATABASE, _confirm, request, links, user_id, exp, sig)
    return Confirmed(email=address,
                     detail=f"{address} is confirmed: notification emails go there now.")
