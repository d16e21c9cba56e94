"""Request-scoped helpers: the app's services and the signed-in user."""

from __future__ import annotations

from fastapi import Request

from townhall.domain.errors import Unauthorized
from townhall.app.runtime import Services
from townhall.store.db import hash_token
from townhall.store.models import Session, User

SESSION_COOKIE = "townhall_session"
# Session tokens are 43 characters; a longer cookie is not ours and is not looked up.
MAX_SESSION_TOKEN_LENGTH = 128


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def public_base(request: Request) -> str:
    """Base URL for links in API answers: the configured public URL, else the address
    this request came in on (right behind a proxy that keeps the Host header)."""
    configured = services(request).settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


def current_user(request: Request) -> User | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > MAX_SESSION_TOKEN_LENGTH:
        return None
    with services(request).db.session() as db:
        session = db.get(Session, hash_token(token))
        return None if session is None else db.get(User, session.user_id)


def require_user(request: Request) -> User:
    user = current_user(request)
    if user is None:
        raise Unauthorized("sign in first")
    return user


def client_key(request: Request, user: User | None) -> str:
    """Who a rate limit counts: the account when signed in, else the client address."""
    if user is not None:
        return f"user:{user.id}"
    return f"addr:{request.client.host if request.client else 'unknown'}"
