"""Passing a request on to another node of the cluster, and its answer back.

Two cases: a WHIP request for a Space another node mixes (RFC 9725 lets a server proxy
or redirect; browsers drop the Authorization header on a redirect to another origin, so
proxying is what works for every client), and a go-live a full node hands to a node
with room. Only the headers the other node needs go along.
"""

from __future__ import annotations

import httpx
from starlette.requests import Request
from starlette.responses import Response

# A node that does not answer within this is treated as gone (the caller says so).
FORWARD_TIMEOUT = 20.0
# Set on a request one node passed to another: it is never passed on again, so two full
# nodes cannot bounce a go-live between them. A client sending it only opts out.
FORWARDED_HEADER = "x-townhall-forwarded"
_ANSWER_HEADERS = ("location", "content-type", "retry-after")


async def forward(node: str, request: Request, body: bytes, headers: tuple[str, ...]) -> Response:
    """Send `request` (its method, path and query, `body`, and the named headers) to
    `node` and return its answer. Raises httpx.HTTPError if the node does not answer."""
    sent = {k: v for k, v in request.headers.items() if k.lower() in headers}
    sent[FORWARDED_HEADER] = "1"
    if request.client is not None:  # the other node sees (and rate-limits) the client
        sent["x-forwarded-for"] = request.client.host
    url = f"{node.rstrip('/')}{request.url.path}"
    if request.url.query:
        url += f"?{request.url.query}"
    async with httpx.AsyncClient(timeout=FORWARD_TIMEOUT) as client:
        answer = await client.request(request.method, url, content=body, headers=sent)
    kept = {k: v for k, v in answer.headers.items() if k.lower() in _ANSWER_HEADERS}
    return Response(answer.content, status_code=answer.status_code, headers=kept)


def was_forwarded(request: Request) -> bool:
    return FORWARDED_HEADER in request.headers
