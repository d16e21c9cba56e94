"""WHIP endpoint (RFC 9725): POST offer -> 201 + Location + answer; DELETE to leave."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Request, Response

from townhall import limits
from townhall.http.common.deps import services
from townhall.http.common.errors_doc import error_responses
from townhall.http.common.forward import forward
from townhall.domain.errors import (
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    UnsupportedMediaType,
)
from townhall.media.webrtc.sdp import check_offer
from townhall.app.runtime import MediaElsewhere

router = APIRouter(prefix="/whip", tags=["whip"],
                   responses=error_responses(400, 401, 403, 404, 405, 413, 415, 422, 429, 503,
                                                text=(405,)))
# Cluster: a WHIP request for a Space mixed on another node is passed on to it.
_FORWARDED_HEADERS = ("authorization", "content-type")


class MediaMoving(Unavailable):
    retry_after = 1


@router.post("/{space_id}", status_code=201, response_class=Response,
             responses={201: {"description": "The SDP answer; Location names the WHIP resource",
                              "content": {"application/sdp": {"schema": {"type": "string"}}}}})
async def publish(space_id: str, request: Request) -> Response:
    svc = services(request)
    user_id = await svc.stage.speaker(space_id, request.headers.get("authorization", ""))
    await svc.whip_offers.hit(f"user:{user_id}", "WHIP offers")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/sdp":
        raise UnsupportedMediaType("WHIP offers must be sent as 'Content-Type: application/sdp'")
    body = await _read_limited(request)
    offer = check_offer(body)
    try:
        resource, answer = await svc.stage.publish(space_id, user_id, offer)
    except MediaElsewhere as elsewhere:
        return await _proxy_to_owner(elsewhere.owner, request, body)
    return Response(
        content=answer,
        status_code=201,
        media_type="application/sdp",
        headers={"Location": f"/whip/{space_id}/{resource.id}"},
    )


async def _proxy_to_owner(owner: str, request: Request, body: bytes = b"") -> Response:
    """Cluster: another node mixes this Space, so the request goes there. The resource
    URL the owner answers with is a path that any node proxies the same way."""
    if not owner:
        raise MediaMoving("this Space's media is moving between nodes; try again")
    try:
        return await forward(owner, request, body, _FORWARDED_HEADERS)
    except httpx.HTTPError:
        # The owner is unreachable: its lease lapses within seconds and a node takes over.
        raise MediaMoving("the node mixing this Space does not answer; try again") from None


@router.delete("/{space_id}/{resource_id}", status_code=200, response_class=Response)
async def leave(space_id: str, resource_id: str, request: Request) -> Response:
    svc = services(request)
    user_id = await svc.stage.speaker(space_id, request.headers.get("authorization", ""))
    resource = svc.whip.resources.get(resource_id)
    if resource is None and svc.leases is not None and space_id not in svc.media:
        owner = await svc.leases.owner(space_id)
        if owner and owner != svc.leases.node:
            return await _proxy_to_owner(owner, request)
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
