"""Profiles, your reminders and your blocklist."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel
from sqlalchemy import select

from townhall import limits
from townhall.store import rooms as room_store
from townhall.http.common.deps import current_user, require_user, services
from townhall.http.common.errors_doc import API_ERRORS
from townhall.app.presenters import UserRef
from townhall.http.api.spaces import SpaceOut, space_out, visible
from townhall.domain.errors import NotFound
from townhall.store.models import HostBlock, Reminder, Space, User

router = APIRouter(prefix="/api", tags=["users"], responses=API_ERRORS)
Viewer = Annotated[User | None, Depends(current_user)]
SignedIn = Annotated[User, Depends(require_user)]
PROFILE_SPACES = 50
# User ids are SQLite integers; a larger one in a path is refused, not sent to the database.
MAX_USER_ID = 2**31 - 1


class Profile(BaseModel):
    id: int
    username: str
    spaces: list[SpaceOut]


@router.get("/users/{username}", response_model=Profile)
def profile(username: str, request: Request, viewer: Viewer) -> Profile:
    with services(request).db.session() as db:
        user = None
        if len(username) <= limits.MAX_USERNAME_LENGTH:
            user = db.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound("no such user")
        query = (select(Space).where(Space.host_id == user.id, Space.state != "cancelled")
                 .order_by(Space.created_at.desc()))
        spaces = visible(request, db, query, viewer, PROFILE_SPACES)  # private: members only
        return Profile(id=user.id, username=user.username, spaces=spaces)


@router.get("/me/reminders", response_model=list[SpaceOut])
def my_reminders(request: Request, user: SignedIn) -> list[SpaceOut]:
    """Spaces you asked to be reminded of that are upcoming or live now."""
    with services(request).db.session() as db:
        rows = db.scalars(
            select(Space).join(Reminder, Reminder.space_id == Space.id)
            .where(Reminder.user_id == user.id, Space.state.in_(("scheduled", "live")))
            .order_by(Space.scheduled_start.asc().nulls_last())
        )
        outs = ((s, room_store.load(db, s.id)[1]) for s in rows)
        # Taken off a private Space's guest list: its reminder no longer shows.
        return [space_out(request, db, s, room, user) for s, room in outs if room.may("view", user.id)]


@router.get("/me/blocks", response_model=list[UserRef])
def my_blocks(request: Request, user: SignedIn) -> list[UserRef]:
    with services(request).db.session() as db:
        rows = db.execute(
            select(User.id, User.username).join(HostBlock, HostBlock.user_id == User.id)
            .where(HostBlock.host_id == user.id)
        )
        return [UserRef(id=i, username=n) for i, n in rows]


@router.delete("/me/blocks/{user_id}", status_code=204, response_class=Response)
def unblock(user_id: Annotated[int, Path(ge=1, le=MAX_USER_ID)], request: Request,
            user: SignedIn) -> Response:
    with services(request).db.session() as db:
        block = db.get(HostBlock, (user.id, user_id))
        if block is None:
            raise NotFound("that user is not blocked")
        db.delete(block)
    return Response(status_code=204)
