"""WHIP endpoint (RFC 9725): POST offer -> 201 + Location + answer; DELETE to leave."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from townhall import limits
from townhall.api.deps import services
from townhall.api.errors_doc import error_responses
from townhall.api import room_store
from townhall.errors import (
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from townhall.media.sdp import check_offer
from townhall.services import MediaElsewhere
from townhall.store.db import hash_token
from townhall.store.models import WhipToken

router = APIRouter(prefix="/whip", tags=["whip"],
                   responses=error_responses(400, 401, 403, 404, 405, 413, 415, 422, 429, 503,
                                                text=(405, 503)))
# Bearer tokens are 43 characters; anything far longer is not ours.
MAX_TOKEN_LENGTH = 256


def _bearer_user(request: Request, space_id: str) -> int:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("WHIP needs 'Authorization: Bearer <token>'")
    token = token.strip()
    if len(token) > MAX_TOKEN_LENGTH:
        raise Unauthorized("invalid bearer token")
    with services(request).db.session() as db:
        row = db.get(WhipToken, hash_token(token))
        if row is None or row.revoked:
            raise Unauthorized("invalid or revoked bearer token")
        if row.space_id != space_id:
            raise Forbidden("this token is for another Space")
        return row.user_id


@router.post("/{space_id}", status_code=201, response_class=Response,
             responses={201: {"description": "The SDP answer; Location names the WHIP resource",
                              "content": {"application/sdp": {"schema": {"type": "string"}}}},
                        307: {"description": "Cluster: another node owns the Space's media"}})
async def publish(space_id: str, request: Request) -> Response:
    svc = services(request)
    with svc.db.session() as db:
        room_store.load(db, space_id)  # 404 before anything else
    user_id = _bearer_user(request, space_id)
    svc.whip_offers.hit(f"user:{user_id}", "WHIP offers")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/sdp":
        raise UnsupportedMediaType("WHIP offers must be sent as 'Content-Type: application/sdp'")
    body = await _read_limited(request)
    offer = check_offer(body)
    with svc.db.session() as db:
        _, room = room_store.load(db, space_id)
        room.check_can_publish(user_id)
    media = svc.media.get(space_id)
    if media is None:
        try:
            media = await svc.start_media(space_id)
        except MediaElsewhere as elsewhere:
            return _to_owner(elsewhere.owner, request)
    resource, answer = await svc.whip.publish(media, user_id, offer, muted=user_id in room.muted)
    return Response(
        content=answer,
        status_code=201,
        media_type="application/sdp",
        headers={"Location": f"/whip/{space_id}/{resource.id}"},
    )


def _to_owner(owner: str, request: Request) -> Response:
    """Cluster: another node mixes this Space. RFC 9725 4.5: redirect the client there
    with 307 (it repeats the POST); its resource URL is relative to that node."""
    if not owner:
        return Response("this Space's media is moving between nodes; try again", status_code=503,
                        media_type="text/plain", headers={"Retry-After": "1"})
    return Response(status_code=307, headers={"Location": f"{owner}{request.url.path}"})


@router.delete("/{space_id}/{resource_id}", status_code=200, response_class=Response)
async def leave(space_id: str, resource_id: str, request: Request) -> Response:
    user_id = _bearer_user(request, space_id)
    svc = services(request)
    resource = svc.whip.resources.get(resource_id)
    if resource is None or resource.space_id != space_id:
        raise NotFound("no such WHIP resource")
    if resource.user_id != user_id:
        raise Forbidden("this WHIP resource belongs to another speaker")
    await svc.whip.close(resource_id)
    return Response(status_code=200)


@router.patch("/{space_id}/{resource_id}", response_class=Response)
async def trickle(space_id: str, resource_id: str) -> Response:
    # RFC 9725 4.3.1: a server without trickle ICE answers 405; clients then send all
    # candidates in the offer.
    return Response(
        "trickle ICE is not supported: send all candidates in the offer",
        status_code=405,
        media_type="text/plain",
        headers={"Allow": "DELETE"},
    )


async def _read_limited(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.MAX_SDP_BYTES:
        raise PayloadTooLarge(f"SDP offer is larger than {limits.MAX_SDP_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limits.MAX_SDP_BYTES:
            raise PayloadTooLarge(f"SDP offer is larger than {limits.MAX_SDP_BYTES} bytes")
    return bytes(body)
