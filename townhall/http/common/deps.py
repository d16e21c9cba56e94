"""Request-scoped helpers: the app's services and the signed-in user."""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta

from fastapi import Request

from townhall import limits, threads

from townhall.domain import moderation
from townhall.domain.errors import Unauthorized
from townhall.app.runtime import Services
from townhall.store.db import hash_token
from townhall.store.models import Session, User

SESSION_COOKIE = "townhall_session"
# Over HTTPS the session cookie carries the __Host- prefix: browsers then accept it only
# with Secure, Path=/ and no Domain, so a page on another port or subdomain of the host
# cannot plant one (signing a visitor in as the attacker), and the plain name is never
# read there. Plain HTTP (a laptop, the tests) keeps the plain name.
SECURE_SESSION_COOKIE = "__Host-townhall_session"
SESSION_COOKIES = (SESSION_COOKIE, SECURE_SESSION_COOKIE)
# Session tokens are 43 characters; a longer cookie is not ours and is not looked up.
MAX_SESSION_TOKEN_LENGTH = 128


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def public_base(request: Request) -> str:
    """Base URL for links in API answers: the configured public URL, else the address
    this request came in on (right behind a proxy that keeps the Host header)."""
    configured = services(request).settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


class SessionCache:
    """Who a session token belongs to, remembered briefly on this node: most requests
    come from the same few browsers, and looking the session up (a thread hop and two
    queries) was a third of a small request's cost. Signing in or out on this node
    forgets at once; on other nodes of a cluster within SESSION_CACHE_SECONDS."""

    def __init__(self, ttl: float = limits.SESSION_CACHE_SECONDS,
                 size: int = limits.SESSION_CACHE_ENTRIES) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[str, tuple[float, User]] = OrderedDict()

    def get(self, key: str) -> User | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: str, user: User) -> None:
        self._entries[key] = (time.monotonic() + self.ttl, user)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, token: str | None) -> None:
        if token:
            self._entries.pop(hash_token(token), None)

    def forget_user(self, user_id: int) -> None:
        """Every session of this person (signed out everywhere)."""
        for key in [k for k, (_, user) in self._entries.items() if user.id == user_id]:
            del self._entries[key]


def secure_request(request: Request) -> bool:
    """HTTPS: the request's own scheme, or the trusted edge's X-Forwarded-Proto (uvicorn
    applies it for TOWNHALL_TRUSTED_PROXIES), or the operator's setting."""
    return services(request).settings.session_cookie_secure or request.url.scheme == "https"


def session_cookie_name(request: Request) -> str:
    return SECURE_SESSION_COOKIE if secure_request(request) else SESSION_COOKIE


def session_token(request: Request) -> str | None:
    """The session cookie this request may use (over HTTPS, only the __Host- one)."""
    return request.cookies.get(session_cookie_name(request))


def _session_token(request: Request) -> str | None:
    token = session_token(request)
    return token if token and len(token) <= MAX_SESSION_TOKEN_LENGTH else None


def _look_up(svc: Services, key: str) -> User | None:
    with svc.db.session() as db:
        session = db.get(Session, key)
        if session is None:
            return None
        if session_expired(session.created_at):
            db.delete(session)  # over: the cookie no longer signs anyone in
            return None
        return db.get(User, session.user_id)


def session_expired(created_at: datetime) -> bool:
    created = created_at.replace(tzinfo=UTC) if created_at.tzinfo is None else created_at
    return datetime.now(UTC) - created > timedelta(seconds=limits.SESSION_LIFETIME)


def current_user_blocking(request: Request) -> User | None:
    """The signed-in user, from a plain `def` route (already in a worker thread)."""
    token = _session_token(request)
    return None if token is None else _look_up(services(request), hash_token(token))


async def current_user(request: Request) -> User | None:
    token = _session_token(request)
    if token is None:
        return None
    cache: SessionCache = request.app.state.sessions
    key = hash_token(token)
    user = cache.get(key)
    if user is None:
        user = await threads.run(threads.DATABASE, _look_up, services(request), key)
        if user is not None:  # unknown tokens are not remembered: a flood of junk cookies
            cache.put(key, user)
    if user is not None and user.suspension is not None:
        await _check_standing(request, user)
    return user


# What a suspended account may still write: its session, its appeal, its own settings
# and inbox, and the beacons of a player it listens with (listening is reading).
SUSPENDED_MAY_WRITE = ("/api/auth/", "/api/appeals", "/api/me/")
READS = ("GET", "HEAD", "OPTIONS")


async def _check_standing(request: Request, user: User) -> None:
    """A suspended account reads and appeals; anything else it writes (host, speak,
    react, raise a hand, report, follow, edit) is refused with why and until when. The
    cached session carries the suspension: suspending forgets this node's cached
    sessions of the person at once (api/operator.py), other origins' within
    SESSION_CACHE_SECONDS."""
    path = request.url.path
    if (request.method in READS or path.startswith(SUSPENDED_MAY_WRITE)
            or path.endswith("/beacon")):
        return
    if not moderation.suspended(user.suspension, user.suspended_until, datetime.now(UTC)):
        return
    standing = await threads.run(threads.DATABASE, services(request).moderation.suspension_of,
                                 user.id)
    if standing is not None:
        raise moderation.refuse_suspended(standing["reason"], user.suspended_until)


async def require_user(request: Request) -> User:
    user = await current_user(request)
    if user is None:
        raise Unauthorized("sign in first")
    return user


def client_key(request: Request, user: User | None) -> str:
    """Who a rate limit counts: the account when signed in, else the client address."""
    if user is not None:
        return f"user:{user.id}"
    return f"addr:{request.client.host if request.client else 'unknown'}"
