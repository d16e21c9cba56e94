"""Clips, and the host's say over a recording (trim, delete): townhall/app/recordings.py.

Who may do what is decided by the domain (townhall/domain/recordings.py) and told to the
page in `can` lists; errors carry a `code`.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, model_validator
from pydantic_core import PydanticCustomError

from townhall import limits, threads
from townhall.app.recordings import ClipOut, RecordingOut, Recordings
from townhall.domain.ids import SPACE_ID
from townhall.store import rooms as room_store
from townhall.http.common.deps import client_key, current_user, public_base, require_user, services
from townhall.http.common.errors_doc import API_ERRORS
from townhall.http.delivery.signed import signer
from townhall.media.export import M4A_TYPE
from townhall.store.models import User

router = APIRouter(tags=["clips"], responses=API_ERRORS)
Viewer = Annotated[User | None, Depends(current_user)]
SignedIn = Annotated[User, Depends(require_user)]
Seconds = Annotated[float, Field(ge=0, le=10**7, allow_inf_nan=False)]
NO_STORE = "private, no-store"
# A clip never changes (a deleted one answers 404): cached a little, shared when public.
CLIP_CACHE = "public, max-age=300"
PRIVATE_CLIP_CACHE = "private, max-age=300"


def recordings(request: Request) -> Recordings:
    return services(request).recordings  # type: ignore[no-any-return]


class ClipIn(BaseModel):
    """A replay's clip: `start` and `end`, seconds on the recording's timeline (a
    player's position plus the recording's `playlist_start`), at most 60 s apart. A live
    Space's clip: `last`, the last seconds recorded so far (at most 30)."""

    start: Seconds | None = None
    end: Seconds | None = None
    last: Annotated[float, Field(gt=0, le=limits.LIVE_CLIP_SECONDS,
                                 allow_inf_nan=False)] | None = None
    title: str = Field("", max_length=limits.MAX_CLIP_TITLE_LENGTH)

    @model_validator(mode="after")
    def one_way(self) -> ClipIn:
        if self.last is None and (self.start is None or self.end is None):
            raise PydanticCustomError("start_and_end", "give start and end (seconds into "
                                      "the replay), or last (seconds of a live Space)")
        return self


class TrimIn(BaseModel):
    """Where the replay starts and ends, seconds on the recording's timeline (null
    trim_end: at its end). Nothing is cut from the files: a new trim may widen it again."""

    trim_start: Seconds = 0.0
    trim_end: Seconds | None = None


class ClipList(BaseModel):
    clips: list[ClipOut]


def _download_base(request: Request, space_id: str, private: bool) -> str:
    base = public_base(request)
    if not private:
        return f"{base}/hls/{space_id}"
    token, _ = signer(request).token(space_id, time.time())
    return f"{base}/hls/{space_id}/t/{token}"


def _info(request: Request, space_id: str, viewer: User | None, on_air: bool) -> RecordingOut:
    """Blocking (the database, the signing secret): in a worker thread."""
    svc = services(request)
    with svc.db.session() as db:
        _, room = room_store.load(db, space_id)
    base = _download_base(request, space_id, room.private)
    return recordings(request).info(space_id, viewer.id if viewer else None, base, on_air)


@router.get("/api/spaces/{space_id}/recording", response_model=RecordingOut)
async def recording(space_id: str, request: Request, response: Response,
                    viewer: Viewer) -> RecordingOut:
    """The recording: status, length, trim, the .m4a's URL, when it expires, and what
    this viewer may do with it (`can`: clip, download, trim, delete_recording)."""
    on_air = await services(request).on_air(space_id) if _plain(space_id) else False
    response.headers["Cache-Control"] = NO_STORE
    return await threads.run(threads.DATABASE, _info, request, space_id, viewer, on_air)


def _plain(space_id: str) -> bool:
    return SPACE_ID.fullmatch(space_id) is not None


@router.patch("/api/spaces/{space_id}/recording", response_model=RecordingOut)
async def trim(space_id: str, body: TrimIn, request: Request, user: SignedIn) -> RecordingOut:
    """The host trims the replay's start and end (it ended; non-destructive)."""
    await threads.run(threads.DATABASE, recordings(request).trim, space_id, user.id,
                      body.trim_start, body.trim_end)
    return await threads.run(threads.DATABASE, _info, request, space_id, user, False)


@router.delete("/api/spaces/{space_id}/recording", status_code=204)
async def delete_recording(space_id: str, request: Request, user: SignedIn) -> Response:
    """The host deletes the recording: its files and clips go; the page says so."""
    await threads.run(threads.DATABASE, recordings(request).delete, space_id, user.id)
    return Response(status_code=204)


@router.post("/api/spaces/{space_id}/clips", status_code=201, response_model=ClipOut)
async def make_clip(space_id: str, body: ClipIn, request: Request, user: SignedIn) -> ClipOut:
    await services(request).clips.hit(client_key(request, user), "clips")
    return await threads.run(threads.DATABASE, recordings(request).create_clip, space_id,
                             user.id, body.start, body.end, body.last, body.title,
                             public_base(request))


@router.get("/api/spaces/{space_id}/clips", response_model=ClipList)
async def list_clips(space_id: str, request: Request, response: Response,
                     viewer: Viewer) -> ClipList:
    """The Space's clips, newest first (for who may listen to it)."""
    response.headers["Cache-Control"] = NO_STORE
    found = await threads.run(threads.DATABASE, recordings(request).clips_of, space_id,
                              viewer.id if viewer else None, public_base(request))
    return ClipList(clips=found)


async def _clip(request: Request, clip_id: str, viewer: User | None) -> ClipOut:
    return await threads.run(threads.DATABASE, recordings(request).clip, clip_id,
                             viewer.id if viewer else None, public_base(request))


@router.get("/api/clips/{clip_id}", response_model=ClipOut)
async def get_clip(clip_id: str, request: Request, response: Response,
                   viewer: Viewer) -> ClipOut:
    response.headers["Cache-Control"] = NO_STORE
    return await _clip(request, clip_id, viewer)


@router.delete("/api/clips/{clip_id}", status_code=204)
async def delete_clip(clip_id: str, request: Request, user: SignedIn) -> Response:
    """Its maker or the Space's host deletes a clip (others: 403, code not_yours)."""
    await threads.run(threads.DATABASE, recordings(request).delete_clip, clip_id, user.id)
    return Response(status_code=204)


_AUDIO_DOC = {200: {"content": {M4A_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
              206: {"description": "Part of it (HTTP Range)",
                    "content": {M4A_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
              416: {"description": "The range asked for is not in the file"}}


@router.get("/api/clips/{clip_id}/audio.m4a", response_class=Response, responses=_AUDIO_DOC)
async def clip_audio(clip_id: str, request: Request, viewer: Viewer) -> Response:
    """The clip as .m4a (AAC copied from the recording, cut to the frame), with Range."""
    clip = await _clip(request, clip_id, viewer)
    made = await recordings(request).clip_file(clip)
    return FileResponse(made.path, media_type=M4A_TYPE, filename=f"clip-{clip.id}.m4a",
                        content_disposition_type="inline",
                        headers={"Cache-Control": PRIVATE_CLIP_CACHE if clip.private
                                 else CLIP_CACHE})


@router.get("/api/clips/{clip_id}/captions.vtt", response_class=Response,
            responses={200: {"content": {"text/vtt": {"schema": {"type": "string"}}}}})
async def clip_captions(clip_id: str, request: Request, viewer: Viewer) -> Response:
    """The clip's captions (WebVTT): the transcript's cues within it, from its start
    (empty of cues until the Space has a transcript)."""
    clip = await _clip(request, clip_id, viewer)
    text = await threads.run(threads.FILES, recordings(request).clip_captions, clip)
    return Response(text, media_type="text/vtt",
                    headers={"Cache-Control": PRIVATE_CLIP_CACHE if clip.private else
                             "public, max-age=60"})
