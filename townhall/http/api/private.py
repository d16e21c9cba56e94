"""Private Spaces: the guest list, and where a player asks for its stream's URLs.

Who may listen is the permission table's "listen" (rooms/permissions.py): everyone in a
public Space; in a private one its members only (host, co-hosts, speakers, guests).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel
from sqlalchemy import select

from townhall import limits
from townhall.store import rooms as room_store
from townhall.http.common.deps import current_user, public_base, require_user, services
from townhall.http.common.errors_doc import API_ERRORS
from townhall.http.api.spaces import SpaceOut, act
from townhall.http.delivery.signed import signed_base
from townhall.domain.errors import NotFound
from townhall.app.presenters import has_replay
from townhall.store.models import User
from townhall import threads

router = APIRouter(prefix="/api/spaces/{space_id}", tags=["private"], responses=API_ERRORS)
Viewer = Annotated[User | None, Depends(current_user)]
SignedIn = Annotated[User, Depends(require_user)]
Username = Annotated[str, Path(min_length=1, max_length=limits.MAX_USERNAME_LENGTH)]


class PlaybackOut(BaseModel):
    """The stream's URLs for this listener. A private Space's are signed and expire
    (`expires`, unix time); everyone asking in the same ten minutes gets the same ones,
    so caches share them. A public Space's are its plain URLs (`expires` null)."""

    live: str
    replay: str | None
    expires: int | None
    private: bool


@router.get("/playback", response_model=PlaybackOut)
def playback(space_id: str, request: Request, response: Response, viewer: Viewer) -> PlaybackOut:
    with services(request).db.session() as db:
        _, room = room_store.load(db, space_id)
        room.authorize("listen", viewer.id if viewer else None)
        replay = has_replay(db, space_id, room)
    response.headers["Cache-Control"] = "private, no-store"
    base, expires = f"{public_base(request)}/hls/{space_id}", None
    if room.private:
        base, expires = signed_base(request, public_base(request), space_id)
    return PlaybackOut(
        live=f"{base}/live.m3u8",
        replay=f"{base}/replay.m3u8" if replay else None,
        expires=expires,
        private=room.private,
    )


async def _user_id(request: Request, username: str) -> int:
    def find() -> int | None:
        with services(request).db.session() as db:
            return db.scalar(select(User.id).where(User.username == username))

    user_id = await threads.run(threads.DATABASE, find)
    if user_id is None:
        raise NotFound(f"Nobody is called @{username}: check the spelling.", field="username")
    return user_id


@router.post("/listeners/{username}", response_model=SpaceOut)
async def add_listener(space_id: str, username: Username, request: Request, user: SignedIn) -> SpaceOut:
    """Put someone on the guest list: in a private Space they may listen (and request
    to speak) like anyone in a public one."""
    guest = await _user_id(request, username)
    return await act(request, space_id, user, lambda room: room.add_guest(user.id, guest))


@router.delete("/listeners/{username}", response_model=SpaceOut)
async def remove_listener(space_id: str, username: Username, request: Request,
                          user: SignedIn) -> SpaceOut:
    """Take someone off the guest list. URLs already handed out stay valid until they
    expire (at most 2 h 10 min): they are shared by every listener, not per person."""
    guest = await _user_id(request, username)
    return await act(request, space_id, user, lambda room: room.remove_guest(user.id, guest))
