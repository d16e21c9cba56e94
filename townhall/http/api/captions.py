"""Live captions and transcripts over HTTP.

PUT /api/spaces/{id}/captions {on}: the host or a co-host switches live captions (the
Room decides: Room.set_captions); GET tells anyone who may view the Space whether they
run, and if not, why (the server is at its cap, the model is not installed).
GET /api/spaces/{id}/transcript.{json,vtt,srt,txt}: the transcript (the final pass's
once the Space has ended and it ran, else the live captions so far), for anyone who may
view the Space; 404 with a sentence when there is none.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from townhall import threads
from townhall.app.captions import CaptionState
from townhall.domain.errors import NotFound
from townhall.http.common.deps import current_user, public_base, require_user, services
from townhall.http.common.errors_doc import API_ERRORS
from townhall.store.models import User

router = APIRouter(prefix="/api/spaces", tags=["captions"], responses=API_ERRORS)
Viewer = Annotated[User | None, Depends(current_user)]
SignedIn = Annotated[User, Depends(require_user)]

NO_TRANSCRIPT = ("this Space has no transcript: nothing was captioned (captions were off, "
                 "or nobody spoke while it was recorded)")
_FORMATS = {"json": "application/json", "vtt": "text/vtt; charset=utf-8",
            "srt": "application/x-subrip; charset=utf-8", "txt": "text/plain; charset=utf-8"}


class CaptionsIn(BaseModel):
    on: bool


class CaptionsOut(BaseModel):
    on: bool  # the Space's switch
    running: bool  # captions are being made now
    reason: str | None  # why not, when switched on but not running
    master_url: str  # the HLS multivariant playlist with the WebVTT rendition


def _out(request: Request, space_id: str, state: CaptionState) -> CaptionsOut:
    return CaptionsOut(on=state.on, running=state.running, reason=state.reason,
                       master_url=f"{public_base(request)}/hls/{space_id}/master.m3u8")


@router.get("/{space_id}/captions", response_model=CaptionsOut)
async def captions_state(space_id: str, request: Request, viewer: Viewer) -> CaptionsOut:
    svc = services(request)
    _, room = await svc.commands.view(space_id, viewer.id if viewer else None,
                                      public_base(request))
    return _out(request, space_id, svc.captions.state(space_id, room.captions))


@router.put("/{space_id}/captions", response_model=CaptionsOut)
async def switch_captions(space_id: str, body: CaptionsIn, request: Request,
                          user: SignedIn) -> CaptionsOut:
    svc = services(request)
    outcome = await svc.commands.act(space_id, user.id, lambda room: room.set_captions(user.id, body.on),
                                     public_base(request))
    return _out(request, space_id, svc.captions.state(space_id, outcome.room.captions))


@router.get("/{space_id}/transcript.{fmt}", response_class=Response,
            responses={200: {"content": {t.split(";")[0]: {"schema": {"type": "string"}}
                                         for t in _FORMATS.values()}}})
async def transcript(space_id: str, fmt: Literal["json", "vtt", "srt", "txt"], request: Request,
                     viewer: Viewer) -> Response:
    svc = services(request)
    await svc.commands.view(space_id, viewer.id if viewer else None, public_base(request))
    found = await threads.run(threads.FILES, svc.captions.transcript, space_id)
    if found is None:
        raise NotFound(NO_TRANSCRIPT)
    if fmt == "json":
        body = json.dumps(found.to_json(), ensure_ascii=False)
    else:
        body = {"vtt": found.to_vtt, "srt": found.to_srt, "txt": found.to_txt}[fmt]()
    headers = {"Cache-Control": "no-cache"}
    if fmt != "json":
        headers["Content-Disposition"] = f'attachment; filename="{space_id}.{fmt}"'
    return Response(body, media_type=_FORMATS[fmt], headers=headers)
