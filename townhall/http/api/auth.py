"""Sign up, sign in, sign out. Passwords hashed with argon2; HttpOnly session cookie."""

from __future__ import annotations

import contextlib
import functools
import re
import secrets
from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from townhall import limits
from townhall.http.common.deps import (client_key, require_user, secure_request, services,
                                       session_cookie_name, session_token)
from townhall.http.common.errors_doc import API_ERRORS
from townhall.domain.errors import Conflict, Unauthorized
from townhall.store.db import hash_token, new_token
from townhall.app.presenters import person_fields
from townhall.store.models import Session, User
from townhall import threads

router = APIRouter(prefix="/api", tags=["auth"], responses=API_ERRORS)
hasher = PasswordHasher()
# The whole name, to its very end: `$` would also let a trailing newline through
# ("townhall_demo\n" shown as the real one).
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_]+")
# The browser keeps the cookie as long as the server honours the session.
SESSION_MAX_AGE = limits.SESSION_LIFETIME


class Credentials(BaseModel):
    username: str = Field(min_length=limits.MIN_USERNAME_LENGTH, max_length=limits.MAX_USERNAME_LENGTH)
    password: str = Field(min_length=limits.MIN_PASSWORD_LENGTH, max_length=limits.MAX_PASSWORD_LENGTH)

    @field_validator("username")
    @classmethod
    def plain_username(cls, value: str) -> str:
        if not USERNAME_PATTERN.fullmatch(value):
            raise PydanticCustomError("plain_username", "use letters, digits and underscores only")
        return value


class UserOut(BaseModel):
    id: int
    username: str


def _start_session(request: Request, response: Response, user_id: int) -> None:
    """A new session on every sign-in; the one the browser had is ended (rotation, so a
    planted cookie never becomes a signed-in one). Blocking (the database): call it from
    a plain `def` or in a worker thread."""
    token, token_hash = new_token()
    old = session_token(request)
    request.app.state.sessions.forget(old)
    with services(request).db.session() as db:
        if old:
            previous = db.get(Session, hash_token(old))
            if previous is not None:
                db.delete(previous)
        db.add(Session(token_hash=token_hash, user_id=user_id))
    response.set_cookie(
        session_cookie_name(request),
        token,
        max_age=SESSION_MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_request(request),
    )


def _end_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(session_cookie_name(request), path="/", httponly=True,
                           samesite="lax", secure=secure_request(request))


# The routes are coroutines so that the rate limits are counted on the event loop; their
# blocking work (argon2, the database) runs in worker threads.
@router.post("/auth/signup", status_code=201, response_model=UserOut)
async def signup(body: Credentials, request: Request, response: Response) -> UserOut:
    await services(request).signups.hit(client_key(request, None), "sign-ups")
    password_hash = await threads.run(threads.PASSWORDS, hasher.hash, body.password)
    return await threads.run(threads.DATABASE, _create_user, request, response, body.username, password_hash)


def _create_user(request: Request, response: Response, username: str,
                 password_hash: str) -> UserOut:
    with services(request).db.session() as db:
        if db.scalar(select(User).where(func.lower(User.username) == username.lower())) is not None:
            raise Conflict("That username is taken: pick another.", field="username")
        user = User(username=username, password_hash=password_hash)
        db.add(user)
        try:
            db.flush()
        except IntegrityError:  # the same name (in any case) signed up just now
            raise Conflict("That username is taken: pick another.", field="username") from None
        out = UserOut(id=user.id, username=user.username)
    _start_session(request, response, out.id)
    return out


@router.post("/auth/signin", response_model=UserOut)
async def signin(body: Credentials, request: Request, response: Response) -> UserOut:
    await services(request).signins.hit(client_key(request, None), "sign-in attempts")
    user = await threads.run(threads.DATABASE, _find_user, request, body.username)
    stored = user.password_hash if user is not None else None
    if not await threads.run(threads.PASSWORDS, _password_matches, stored, body.password):
        raise Unauthorized("wrong username or password")
    await threads.run(threads.DATABASE, _start_session, request, response, user.id)
    return UserOut(id=user.id, username=user.username)


@functools.cache
def _nobodys_hash() -> str:
    return hasher.hash(secrets.token_urlsafe(16))


def _password_matches(stored: str | None, password: str) -> bool:
    """Does `password` match the stored hash? Every refusal costs one argon2 verify, so
    how long sign-in takes never tells whether an account exists: an unknown name, or
    an account nobody may sign in to (the demo host's hash is "!" + random), is checked
    against a hash of nobody's password."""
    try:
        return hasher.verify(stored or "", password)
    except InvalidHashError:
        with contextlib.suppress(VerificationError, InvalidHashError):
            hasher.verify(_nobodys_hash(), password)
        return False
    except VerificationError:
        return False


def _find_user(request: Request, username: str) -> User | None:
    with services(request).db.session() as db:
        # Case does not matter when signing in: names are unique whatever their case.
        return db.scalar(select(User).where(func.lower(User.username) == username.lower()))


@router.post("/auth/signout", status_code=204)
def signout(request: Request, response: Response) -> Response:
    token = session_token(request)
    request.app.state.sessions.forget(token)
    if token:
        with services(request).db.session() as db:
            session = db.get(Session, hash_token(token))
            if session is not None:
                db.delete(session)
    response = Response(status_code=204)
    _end_cookie(request, response)
    return response


@router.post("/auth/signout-everywhere", status_code=204)
def signout_everywhere(request: Request, user: Annotated[User, Depends(require_user)]) -> Response:
    """End every session of yours, on every device (a lost phone, a shared computer).
    Other nodes of a cluster stop honouring them within SESSION_CACHE_SECONDS."""
    request.app.state.sessions.forget_user(user.id)
    with services(request).db.session() as db:
        db.execute(delete(Session).where(Session.user_id == user.id))
    response = Response(status_code=204)
    _end_cookie(request, response)
    return response


class MeOut(UserOut):
    """You, as others see you (presenters.person_fields)."""

    display_name: str
    avatar_url: str
    avatar_small_url: str


@router.get("/me", response_model=MeOut)
def me(user: Annotated[User, Depends(require_user)]) -> MeOut:
    return MeOut(id=user.id, username=user.username, **person_fields(user))
