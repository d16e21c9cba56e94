"""Errors a client caused. Each has the HTTP status it maps to and a machine-readable
`code` (the page acts on codes, never on the English text); the mapping to HTTP is in
one place, townhall/http/application.py. Bodies are `{"code": ..., "detail": ...}`, and
`"fields": {field: detail}` for an error about one input of the request."""

from __future__ import annotations


class ClientError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # The request input this is about (the page shows the message next to it).
        self.field = field
        if code is not None:
            self.code = code


class BadRequest(ClientError):
    status = 400
    code = "bad_request"


class Unauthorized(ClientError):
    status = 401
    code = "sign_in_required"


class Forbidden(ClientError):
    status = 403
    code = "forbidden"


class NotFound(ClientError):
    status = 404
    code = "not_found"


class Conflict(ClientError):
    status = 409
    code = "conflict"


class Gone(ClientError):
    status = 410
    code = "gone"


class PayloadTooLarge(ClientError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ClientError):
    status = 415
    code = "unsupported_media_type"


class Unavailable(ClientError):
    status = 503
    code = "unavailable"


# Codes a page acts on (in addition to each class's default above).
REMOVED = "removed"  # removed from this Space: no way back in
BLOCKED = "blocked"  # blocked by this Space's host: no way into any of their Spaces
PRIVATE = "private"  # a private Space, and this person is not on its list
NOT_ALLOWED = "not_allowed"  # their role does not allow it
ILLEGAL_TRANSITION = "illegal_transition"  # not in this state, or it already happened
RATE_LIMITED = "rate_limited"
INVALID_REQUEST = "invalid_request"  # a field failed validation (422)
INTERNAL_ERROR = "internal_error"  # a bug on the server (500): not the client's doing
INVALID_TOKEN = "invalid_token"  # a WHIP bearer token that is unknown or revoked
INVALID_IMAGE = "invalid_image"  # an upload that is not an image we can read, or too big
BACKEND_UNAVAILABLE = "backend_unavailable"  # the database or Redis is away for a moment
LIMIT_REACHED = "limit_reached"  # a per-account cap (live or scheduled Spaces at once)
INVALID_LINK = "invalid_link"  # an emailed link (unsubscribe, confirm) forged, cut or expired
ALREADY_UNSUBSCRIBED = "already_unsubscribed"  # that kind of email was already off
ALREADY_CONFIRMED = "already_confirmed"  # that email address was already confirmed
SUSPENDED = "suspended"  # the account is suspended by an operator: it may read and appeal
ALREADY_APPEALED = "already_appealed"  # an operator action is appealed once
TAKEN_DOWN = "taken_down"  # a replay an operator took down (410), on the transparency log
