"""Web Push subscriptions: the key browsers subscribe with, and each signed-in person's
browsers (townhall/app/webpush.py sends to them; web/static/push.js subscribes).

A subscription is the browser's `PushSubscription.toJSON()`: `{endpoint, keys: {p256dh,
auth}}`. It is checked here before anything is stored, since the server will POST to the
endpoint and encrypt to the keys: an https URL (plain http only to a loopback address the
operator allowed), no private, loopback or link-local address unless its network is in
TOWNHALL_PUSH_ENDPOINT_NETWORKS, at most MAX_PUSH_ENDPOINT_LENGTH characters; p256dh a
P-256 public key (65 bytes, uncompressed, on the curve), auth 16 bytes, both base64url.
The same endpoint again updates its row (a browser renewing its keys, or another
account signing in on it: the browser now belongs to whoever turned push on last).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from pathlib import Path
from typing import Annotated

from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from townhall import limits, threads
from townhall.app.webpush import Network, PushChannel, b64url_decode, endpoint_problem
from townhall.domain import errors
from townhall.domain.errors import ClientError, Conflict, NotFound, Unavailable
from townhall.http.common.deps import client_key, require_user, services
from townhall.http.common.errors_doc import API_ERRORS
from townhall.store import delivery
from townhall.store.models import PushSubscription, User

router = APIRouter(tags=["push"], responses=API_ERRORS)
SignedIn = Annotated[User, Depends(require_user)]
# The service worker lives with the other static files but is served from the site's
# root, so its scope is the whole site (a worker's scope is its own path and below).
SERVICE_WORKER = Path(__file__).resolve().parents[1] / "web" / "static" / "sw.js"
# A P-256 public key as an uncompressed point, and the auth secret (RFC 8291).
P256DH_BYTES = 65
AUTH_BYTES = 16
# Longest base64url text either key may be (with padding): more is not a key.
MAX_KEY_TEXT = 100


class InvalidSubscription(ClientError):
    """A push subscription the server will not store: which part, and why."""

    status = 422
    code = errors.INVALID_REQUEST


class PushKey(BaseModel):
    # The application server key for `pushManager.subscribe({applicationServerKey})`:
    # this server's VAPID public key, an uncompressed P-256 point, base64url.
    key: str


class SubscriptionKeys(BaseModel):
    model_config = ConfigDict(extra="ignore")
    p256dh: str
    auth: str


class SubscriptionIn(BaseModel):
    """What `PushSubscription.toJSON()` gives (expirationTime, if any, is not kept)."""

    model_config = ConfigDict(extra="ignore")
    endpoint: str
    keys: SubscriptionKeys
    expirationTime: float | None = None  # noqa: N815 (the browser's name)


class SubscriptionOut(BaseModel):
    endpoint: str
    created_at: str


class Subscriptions(BaseModel):
    subscriptions: list[SubscriptionOut]
    # How many browsers one account may have (MAX_PUSH_SUBSCRIPTIONS_PER_USER).
    limit: int


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    endpoint: str


def _channel(request: Request) -> PushChannel:
    for channel in services(request).notifier.channels:
        if isinstance(channel, PushChannel):
            return channel
    raise Unavailable("This server does not send Web Push notifications.")


def _key(text: str, field: str, size: int, what: str) -> bytes:
    try:
        if len(text) > MAX_KEY_TEXT:
            raise ValueError
        raw = b64url_decode(text)
    except ValueError:
        raise InvalidSubscription(f"{what} is not base64url text.", field=field) from None
    if len(raw) != size:
        raise InvalidSubscription(f"{what} must be {size} bytes, not {len(raw)}.", field=field)
    return raw


def check(body: SubscriptionIn, networks: Sequence[Network]) -> None:
    """Refuse what the server could not or must not push to, saying which part and why."""
    problem = endpoint_problem(body.endpoint, networks)
    if problem is not None:
        raise InvalidSubscription(problem, field="endpoint")
    point = _key(body.keys.p256dh, "keys", P256DH_BYTES, "The p256dh key")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise InvalidSubscription("The p256dh key is not a point on the P-256 curve "
                                  "(uncompressed, starting 0x04).", field="keys") from None
    _key(body.keys.auth, "keys", AUTH_BYTES, "The auth secret")


def _out(row: PushSubscription) -> SubscriptionOut:
    return SubscriptionOut(endpoint=row.endpoint,
                           created_at=row.created_at.replace(tzinfo=UTC).isoformat())


def _subscribe(request: Request, viewer: User,
               body: SubscriptionIn) -> tuple[bool, SubscriptionOut]:
    """(created, the row): a new browser, or the same endpoint's row updated."""
    with services(request).db.session() as db:
        row = db.scalar(select(PushSubscription).where(
            PushSubscription.endpoint == body.endpoint))
        if row is None or row.user_id != viewer.id:
            have = db.scalar(select(func.count()).select_from(PushSubscription).where(
                PushSubscription.user_id == viewer.id))
            if (have or 0) >= limits.MAX_PUSH_SUBSCRIPTIONS_PER_USER:
                raise Conflict(
                    f"Notifications are already on in {limits.MAX_PUSH_SUBSCRIPTIONS_PER_USER} "
                    "browsers for your account: turn them off in one of them first.",
                    code=errors.LIMIT_REACHED)
        created = row is None
        if row is None:
            row = PushSubscription(user_id=viewer.id, endpoint=body.endpoint)
            db.add(row)
        row.user_id = viewer.id
        row.p256dh = body.keys.p256dh
        row.auth = body.keys.auth
        db.flush()
        return created, _out(row)


def _unsubscribe(request: Request, viewer: User, endpoint: str) -> bool:
    with services(request).db.session() as db:
        row = db.scalar(select(PushSubscription).where(
            PushSubscription.endpoint == endpoint, PushSubscription.user_id == viewer.id))
        if row is None:
            return False
        db.delete(row)
        return True


def _list(request: Request, viewer: User) -> Subscriptions:
    with services(request).db.session() as db:
        rows = delivery.push_subscriptions(db, [viewer.id])
        return Subscriptions(subscriptions=[_out(r) for r in rows],
                             limit=limits.MAX_PUSH_SUBSCRIPTIONS_PER_USER)


@router.get("/api/push/key", response_model=PushKey)
async def push_key(request: Request, response: Response) -> PushKey:
    """The key browsers subscribe with (it only changes if the operator changes it)."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return PushKey(key=_channel(request).public_key)


@router.get("/api/me/push-subscriptions", response_model=Subscriptions)
async def my_subscriptions(request: Request, viewer: SignedIn) -> Subscriptions:
    """The browsers that get your notifications by Web Push."""
    return await threads.run(threads.DATABASE, _list, request, viewer)


@router.post("/api/me/push-subscriptions", response_model=SubscriptionOut, status_code=201,
             responses={200: {"model": SubscriptionOut,
                              "description": "That endpoint was known: its keys updated"}})
async def subscribe(body: SubscriptionIn, request: Request, response: Response,
                    viewer: SignedIn) -> SubscriptionOut:
    """Get notifications in this browser: the body is its `PushSubscription.toJSON()`.
    201 for a new browser, 200 when the endpoint was known (its keys are updated)."""
    check(body, _channel(request).networks)
    await services(request).push_subscribes.hit(client_key(request, viewer),
                                                "push subscriptions")
    for attempt in range(2):
        try:
            created, out = await threads.run(threads.DATABASE, _subscribe, request, viewer, body)
            break
        except IntegrityError:  # the same endpoint, sent twice at once: update it
            if attempt:
                raise Conflict("This browser is being subscribed already: try again.") from None
    response.status_code = 201 if created else 200
    return out


@router.delete("/api/me/push-subscriptions", status_code=204, response_class=Response)
async def unsubscribe(request: Request, viewer: SignedIn,
                      endpoint: Annotated[str | None, Query(
                          max_length=limits.MAX_PUSH_ENDPOINT_LENGTH)] = None,
                      body: Annotated[EndpointIn | None, Body()] = None) -> Response:
    """Stop notifications in a browser: its endpoint, as `?endpoint=` or `{"endpoint"}`."""
    named = endpoint if endpoint is not None else body.endpoint if body is not None else None
    if not named:
        raise InvalidSubscription("Say which browser: give its push endpoint.", field="endpoint")
    if not await threads.run(threads.DATABASE, _unsubscribe, request, viewer, named):
        raise NotFound("No browser of yours gets notifications at that endpoint.")
    return Response(status_code=204)


@router.get("/sw.js", include_in_schema=False)
def service_worker() -> FileResponse:
    """The service worker (shows pushes), at the root so its scope is the whole site."""
    return FileResponse(SERVICE_WORKER, media_type="text/javascript",
                        headers={"Cache-Control": "no-cache"})
