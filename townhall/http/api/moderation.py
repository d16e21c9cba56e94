"""Speaker requests, invitations, co-hosts, mutes, removals and blocks.

Each endpoint is one Room command; `act` persists it, carries out its effects (mute in
the mixer, close a peer connection) and tells every live client.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from townhall import limits
from townhall.store import rooms as room_store
from townhall.http.common.deps import client_key, public_base, require_user, services
from townhall.http.common.errors_doc import API_ERRORS
from townhall.http.api.spaces import SpaceOut, act
from townhall.domain.errors import NotFound
from townhall.store.models import Invite, User
from townhall import threads

router = APIRouter(prefix="/api/spaces/{space_id}", tags=["moderation"], responses=API_ERRORS)
SignedIn = Annotated[User, Depends(require_user)]
MAX_INVITE_CODE_LENGTH = 64


class Target(BaseModel):
    user_id: int = Field(ge=1, le=2**31 - 1)


class Username(BaseModel):
    username: str = Field(min_length=1, max_length=limits.MAX_USERNAME_LENGTH)


class InviteOut(BaseModel):
    code: str
    invite_url: str


async def existing_user(request: Request, user_id: int) -> int:
    def check() -> None:
        with services(request).db.session() as db:
            if db.get(User, user_id) is None:
                raise NotFound("no such user")

    await threads.run(threads.DATABASE, check)
    return user_id


# -- requests to speak ----------------------------------------------------------
@router.post("/hand", response_model=SpaceOut)
async def raise_hand(space_id: str, request: Request, user: SignedIn) -> SpaceOut:
    await services(request).hand_raises.hit(client_key(request, user), "requests to speak")
    return await act(request, space_id, user, lambda room: room.raise_hand(user.id))


@router.delete("/hand", response_model=SpaceOut)
async def lower_hand(space_id: str, request: Request, user: SignedIn) -> SpaceOut:
    return await act(request, space_id, user, lambda room: room.lower_hand(user.id))


@router.post("/hands/{user_id}/approve", response_model=SpaceOut)
async def approve_hand(space_id: str, user_id: int, request: Request, user: SignedIn) -> SpaceOut:
    return await act(request, space_id, user, lambda room: room.approve_hand(user.id, user_id))


@router.post("/hands/{user_id}/decline", response_model=SpaceOut)
async def decline_hand(space_id: str, user_id: int, request: Request, user: SignedIn) -> SpaceOut:
    return await act(request, space_id, user, lambda room: room.decline_hand(user.id, user_id))


# -- invitations ------------------------------------------------------------------
@router.post("/invites", status_code=201, response_model=InviteOut)
async def create_invite_link(space_id: str, request: Request, user: SignedIn) -> InviteOut:
    """A link any signed-in person can follow to become a speaker."""
    await services(request).invite_links.hit(client_key(request, user), "invite links")
    return await threads.run(threads.DATABASE, _new_invite, space_id, request, user)


def _new_invite(space_id: str, request: Request, user: User) -> InviteOut:
    with services(request).db.session() as db:
        _, room = room_store.load(db, space_id)
        room.invite(user.id)
        code = secrets.token_urlsafe(16)
        db.add(Invite(code=code, space_id=space_id))
    return InviteOut(code=code, invite_url=f"{public_base(request)}/s/{space_id}/invite/{code}")


@router.post("/invites/{code}/accept", response_model=SpaceOut)
async def accept_invite_link(space_id: str, code: str, request: Request, user: SignedIn) -> SpaceOut:
    def check() -> None:
        with services(request).db.session() as db:
            invite = db.get(Invite, code) if len(code) <= MAX_INVITE_CODE_LENGTH else None
            if invite is None or invite.space_id != space_id:
                room_store.load(db, space_id)  # an unknown Space is the clearer 404
                raise NotFound("no such invite for this Space")

    await threads.run(threads.DATABASE, check)
    return await act(request, space_id, user, lambda room: room.accept_invite_code(user.id))


@router.post("/speakers", response_model=SpaceOut)
async def invite_user(space_id: str, body: Username, request: Request, user: SignedIn) -> SpaceOut:
    """Invite a user by name; they accept with POST /invitation/accept."""
    def find() -> int:
        with services(request).db.session() as db:
            invitee = db.scalar(select(User.id).where(User.username == body.username))
        if invitee is None:
            raise NotFound(f"Nobody is called @{body.username}: check the spelling.",
                           field="username")
        return invitee

    invitee_id = await threads.run(threads.DATABASE, find)
    return await act(request, space_id, user, lambda room: room.invite(user.id, invitee_id))


@router.post("/invitation/accept", response_model=SpaceOut)
async def accept_invitation(space_id: str, request: Request, user: SignedIn) -> SpaceOut:
    return await act(request, space_id, user, lambda room: room.accept_invitation(user.id))


@router.post("/step-down", response_model=SpaceOut)
async def step_down(space_id: str, request: Request, user: SignedIn) -> SpaceOut:
    return await act(request, space_id, user, lambda room: room.step_down(user.id))


# -- co-hosts -----------------------------------------------------------------------
@router.post("/cohosts", response_model=SpaceOut)
async def add_cohost(space_id: str, body: Target, request: Request, user: SignedIn) -> SpaceOut:
    target = await existing_user(request, body.user_id)
    return await act(request, space_id, user, lambda room: room.add_cohost(user.id, target))


@router.delete("/cohosts/{user_id}", response_model=SpaceOut)
async def remove_cohost(space_id: str, user_id: int, request: Request, user: SignedIn) -> SpaceOut:
    return await act(request, space_id, user, lambda room: room.remove_cohost(user.id, user_id))


# -- mutes ----------------------------------------------------------------------------
@router.post("/mute", response_model=SpaceOut)
async def mute(space_id: str, body: Target, request: Request, user: SignedIn) -> SpaceOut:
    return await act(request, space_id, user, lambda room: room.mute(user.id, body.user_id))


@router.post("/unmute", response_model=SpaceOut)
async def unmute(space_id: str, body: Target, request: Request, user: SignedIn) -> SpaceOut:
    return await act(request, space_id, user, lambda room: room.unmute(user.id, body.user_id))


@router.post("/mute-all", response_model=SpaceOut)
async def mute_all(space_id: str, request: Request, user: SignedIn) -> SpaceOut:
    return await act(request, space_id, user, lambda room: room.mute_all(user.id))


# -- removal and blocks -----------------------------------------------------------
@router.post("/remove", response_model=SpaceOut)
async def remove(space_id: str, body: Target, request: Request, user: SignedIn) -> SpaceOut:
    target = await existing_user(request, body.user_id)
    return await act(request, space_id, user, lambda room: room.remove(user.id, target))


@router.post("/block", response_model=SpaceOut)
async def block(space_id: str, body: Target, request: Request, user: SignedIn) -> SpaceOut:
    """Remove the user and block them from every Space this host runs."""
    target = await existing_user(request, body.user_id)
    return await act(request, space_id, user, lambda room: room.block(user.id, target))
