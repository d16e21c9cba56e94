"""OpenAPI declarations of the error answers routes give, shared by every router.

Every client error is `{"code": "<machine code>", "detail": "<message>"}`, with
`"fields": {"<input>": "<sentence>"}` when it is about inputs (app.py's handlers for
ClientError and RequestValidationError, the latter replacing FastAPI's list-shaped 422
body). Declaring them in the schema lets clients and tests
(tests/http/test_schemathesis.py) check every answer against it. Routers take them
with `APIRouter(responses=...)`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorOut(BaseModel):
    """What every 4xx from the JSON API carries."""

    code: str  # machine-readable (townhall/domain/errors.py): pages act on it
    detail: str  # a sentence for a person
    # Which inputs are wrong, each with a sentence to show next to it ({"title": "Give
    # your Space a title."}): every 422, and a few other refusals about one input.
    fields: dict[str, str] | None = None


DESCRIPTIONS = {
    400: "Bad request: the message says what is wrong",
    401: "Not signed in, or a missing or invalid bearer token",
    403: "Signed in, but not allowed to do this",
    404: "No such Space, user or object",
    405: "Method not supported here",
    409: "Conflicts with the current state",
    410: "Gone: an operator took it down (see the transparency log)",
    413: "Request body too large",
    415: "Unsupported content type",
    422: "Invalid parameters or body",
    429: "Too many requests: wait for Retry-After seconds",
    503: "Not available yet: retry after Retry-After seconds",
}

PLAIN_TEXT: dict[str, Any] = {"text/plain": {"schema": {"type": "string"}}}


def error_responses(*codes: int, text: tuple[int, ...] = ()) -> dict[int | str, dict[str, Any]]:
    """`{"detail": str}` answers for `codes`; those also in `text` may be plain text too."""
    responses: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        response: dict[str, Any] = {"model": ErrorOut, "description": DESCRIPTIONS[code]}
        if code in text:
            response["content"] = dict(PLAIN_TEXT)
        responses[code] = response
    return responses


# The JSON API (/api/...): any route may refuse with any of these.
API_ERRORS = error_responses(400, 401, 403, 404, 409, 422, 429)
