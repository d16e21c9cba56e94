"""Follows (who hears when someone goes live or schedules) and your notifications."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sse_starlette import EventSourceResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from townhall import limits, threads
from townhall.app.notifier import NotificationOut, present
from townhall.app.presenters import UserRef
from townhall.domain.errors import BadRequest, Conflict, Forbidden, NotFound
from townhall.http.api.live import HEARTBEAT_SECONDS
from townhall.http.api.users import FOLLOW, MAX_USER_ID, UNFOLLOW, Username, _by_name
from townhall.http.common.deps import client_key, require_user, services
from townhall.http.common.errors_doc import API_ERRORS
from townhall.store import follows as store
from townhall.store.models import Follow, User

router = APIRouter(prefix="/api", tags=["follows"], responses=API_ERRORS)
SignedIn = Annotated[User, Depends(require_user)]


class FollowCounts(BaseModel):
    followers: int
    following: int
    # What the viewer may do now: ["unfollow"] while following, ["follow"] otherwise.
    can: list[str]


class People(BaseModel):
    people: list[UserRef]
    # Pass as `after` for the next page; null on the last one.
    next: int | None


class Notifications(BaseModel):
    unread: int
    notifications: list[NotificationOut]
    # Pass as `before` for the next (older) page; null on the last one.
    next: int | None


class ReadUpTo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Mark notifications up to this id read; left out: all of them.
    up_to: int | None = Field(default=None, ge=1, le=MAX_USER_ID)


def _counts(db, user: User, viewer: User) -> FollowCounts:  # type: ignore[no-untyped-def]
    followers, following = store.counts(db, user.id)
    return FollowCounts(followers=followers, following=following,
                        can=[UNFOLLOW] if store.follows(db, viewer.id, user.id) else [FOLLOW])


def _follow(request: Request, username: str, viewer: User) -> FollowCounts:
    with services(request).db.session() as db:
        user = _by_name(db, username)
        if user.id == viewer.id:
            raise BadRequest("You cannot follow yourself.", field="username")
        if store.blocked(db, user.id, viewer.id):
            raise Forbidden(f"@{user.username} has blocked you, so you cannot follow them.")
        if store.follows(db, viewer.id, user.id):
            raise Conflict(f"You already follow @{user.username}.")
        db.add(Follow(follower_id=viewer.id, followee_id=user.id))
        try:
            db.flush()
        except IntegrityError:  # the same follow, sent twice at once
            raise Conflict(f"You already follow @{user.username}.") from None
        return _counts(db, user, viewer)


def _unfollow(request: Request, username: str, viewer: User) -> FollowCounts:
    with services(request).db.session() as db:
        user = _by_name(db, username)
        follow = db.get(Follow, (viewer.id, user.id))
        if follow is None:
            raise NotFound(f"You do not follow @{user.username}.")
        db.delete(follow)
        db.flush()
        return _counts(db, user, viewer)


@router.post("/users/{username}/follow", response_model=FollowCounts)
async def follow(username: Username, request: Request, viewer: SignedIn) -> FollowCounts:
    """Follow someone: you hear when they go live or schedule a Space."""
    await services(request).follows.hit(client_key(request, viewer), "follows")
    return await threads.run(threads.DATABASE, _follow, request, username, viewer)


@router.delete("/users/{username}/follow", response_model=FollowCounts)
async def unfollow(username: Username, request: Request, viewer: SignedIn) -> FollowCounts:
    return await threads.run(threads.DATABASE, _unfollow, request, username, viewer)


def _people(request: Request, username: str, followers: bool, after: int,
            limit: int) -> People:
    with services(request).db.session() as db:
        user = _by_name(db, username)
        rows = store.people(db, user.id, followers, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return People(people=[UserRef.of(u) for u in rows],
                      next=rows[-1].id if more else None)


Limit = Annotated[int, Query(ge=1, le=limits.FOLLOW_PAGE_SIZE)]
After = Annotated[int, Query(ge=0, le=MAX_USER_ID)]


@router.get("/users/{username}/followers", response_model=People)
async def followers(username: Username, request: Request, after: After = 0,
                    limit: Limit = limits.FOLLOW_PAGE_SIZE) -> People:
    """Who follows this person, by account age (`after`: the `next` of the last page)."""
    return await threads.run(threads.DATABASE, _people, request, username, True, after, limit)


@router.get("/users/{username}/following", response_model=People)
async def following(username: Username, request: Request, after: After = 0,
                    limit: Limit = limits.FOLLOW_PAGE_SIZE) -> People:
    """Whom this person follows, by account age."""
    return await threads.run(threads.DATABASE, _people, request, username, False, after, limit)


def _notifications(request: Request, user: User, before: int | None,
                   limit: int) -> Notifications:
    with services(request).db.session() as db:
        unread = store.unread(db, user.id)
        if limit == 0:
            return Notifications(unread=unread, notifications=[], next=None)
        rows = store.page(db, user.id, before, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return Notifications(unread=unread, notifications=present(db, rows),
                             next=rows[-1].id if more else None)


@router.get("/me/notifications", response_model=Notifications)
async def my_notifications(
        request: Request, user: SignedIn,
        before: Annotated[int | None, Query(ge=1, le=MAX_USER_ID)] = None,
        limit: Annotated[int, Query(ge=0, le=limits.NOTIFICATIONS_PAGE_SIZE)] =
        limits.NOTIFICATIONS_PAGE_SIZE) -> Notifications:
    """Your notifications, newest first, and how many are unread (`limit=0`: only that)."""
    return await threads.run(threads.DATABASE, _notifications, request, user, before, limit)


def _read(request: Request, user: User, up_to: int | None) -> Notifications:
    with services(request).db.session() as db:
        store.mark_read(db, user.id, up_to)
    return _notifications(request, user, None, 0)


@router.post("/me/notifications/read", response_model=Notifications)
async def read_notifications(body: ReadUpTo, request: Request, user: SignedIn) -> Notifications:
    """Mark your notifications read: all, or those up to `up_to` (an id)."""
    out = await threads.run(threads.DATABASE, _read, request, user, body.up_to)
    services(request).inbox.published([user.id])  # your other tabs' bells
    return out


def _unread(request: Request, user_id: int) -> int:
    with services(request).db.session() as db:
        return store.unread(db, user_id)


@router.get("/me/events", response_class=EventSourceResponse,
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}})
async def my_events(request: Request, user: SignedIn) -> EventSourceResponse:
    """Server-Sent Events for the bell: `unread` (with the count) at once, and again
    whenever you get a notification or read them in another tab."""
    svc = services(request)
    slot = svc.event_streams.take(client_key(request, None), "live-event streams")
    wake = svc.inbox.open(user.id)  # opened first: nothing falls between it and the count

    async def stream() -> AsyncIterator[dict[str, str]]:
        try:
            while True:
                unread = await threads.run(threads.DATABASE, _unread, request, user.id)
                yield {"event": "unread", "data": json.dumps({"unread": unread})}
                await wake.get()
        finally:
            svc.inbox.close(user.id, wake)
            slot.release()

    return EventSourceResponse(stream(), ping=HEARTBEAT_SECONDS,
                               headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
