"""Web Push: notifications to browsers through their push service (RFC 8030), encrypted
to each browser's key (RFC 8291, aes128gcm) and signed with this server's VAPID key
(RFC 8292).

A browser subscribes through its service worker (web/static/push.js, sw.js) with the
application server key from GET /api/push/key; the subscription (the push service's
endpoint and the browser's keys) is kept per account (http/api/push.py). For each batch
the notifier offers (townhall/app/notifier.py), `PushChannel.send` reads the Space, the
actor and the subscriptions on a DATABASE thread, encrypts a small JSON message
`{title, body, url, kind}` on the PUSH thread (pywebpush's encoder), and POSTs it with
aiohttp, PUSH_SENDS_AT_ONCE at a time, each with TTL, `Content-Encoding: aes128gcm` and
`Authorization: vapid t=<JWT>, k=<public key>`; the JWT's `aud` is the endpoint's
origin, its `exp` VAPID_TOKEN_LIFETIME ahead (reused per push service until nearly
due). A 404 or 410 answer means the browser unsubscribed: the subscription is deleted.
Anything else that is not 2xx is counted as failed and logged, once per batch.

The server calls URLs that browsers name, so every address it connects to is checked
(`endpoint_problem` when a subscription arrives, `GuardedResolver` when a name resolves
at send time, redirects never followed): a push service is on the public internet, and
private, loopback or link-local addresses are refused unless the operator named their
network (TOWNHALL_PUSH_ENDPOINT_NETWORKS; the tests' local push service is on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import logging
import re
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from pywebpush import WebPusher
from sqlalchemy import delete

from townhall import limits, threads
from townhall.config import Settings, keep_once
from townhall.app.notifier import INVITED, LIVE, REMINDER, SCHEDULED, Channel, Delivery, sentence
from townhall.store import delivery as store
from townhall.store.db import Database
from townhall.store.models import PushSubscription, Space, User

log = logging.getLogger(__name__)

KEY_FILE = "vapid-private-key.pem"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# The second line of a push: what opening it does.
ACTIONS = {LIVE: "Tap to listen live.", REMINDER: "Tap to listen live.",
           SCHEDULED: "Tap to see when it starts.", INVITED: "Tap to join the stage."}
# Push service answers meaning the subscription is gone for good (RFC 8030 8.2, and FCM's
# 404 for an expired one).
GONE = (404, 410)
_B64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


# -- keys ------------------------------------------------------------------------------
def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_decode(text: str) -> bytes:
    """Base64url with or without padding; ValueError for anything else."""
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))


def parse_private_key(text: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from PEM, or base64url of its raw 32 bytes or of DER."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
    else:
        try:
            raw = b64url_decode(text)
        except ValueError:
            raise ValueError("TOWNHALL_VAPID_PRIVATE_KEY is neither PEM nor base64url") from None
        if len(raw) == 32:
            key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
        else:
            key = serialization.load_der_private_key(raw, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("TOWNHALL_VAPID_PRIVATE_KEY must be a P-256 (prime256v1) key")
    return key


def load_vapid_key(configured: str, data_dir: Path) -> ec.EllipticCurvePrivateKey:
    """The configured key, else the one kept in the data dir (made once, atomically, so
    two processes sharing the directory agree: like the HLS signing secret)."""
    if configured:
        return parse_private_key(configured)
    path = data_dir / KEY_FILE
    keep_once(path, lambda: ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    try:
        return parse_private_key(path.read_text())
    except ValueError:
        raise ValueError(f"{path} holds no usable VAPID key: delete it to make a new one "
                         "(browsers then subscribe again)") from None


def application_server_key(key: ec.EllipticCurvePrivateKey) -> str:
    """What browsers pass as `applicationServerKey`: the public key as an uncompressed
    P-256 point, base64url."""
    return b64url(key.public_key().public_bytes(serialization.Encoding.X962,
                                                serialization.PublicFormat.UncompressedPoint))


# -- where the server may connect -------------------------------------------------------
def address_allowed(address: str, networks: Sequence[Network]) -> bool:
    """A public (global unicast) address, or one in the operator's named networks."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in networks):
        return True
    return ip.is_global and not ip.is_multicast


def endpoint_problem(endpoint: str, networks: Sequence[Network]) -> str | None:
    """Why the server will not POST to this push endpoint, in words; None if it may. A
    name (not an address) is checked again when it resolves (GuardedResolver)."""
    if len(endpoint) > limits.MAX_PUSH_ENDPOINT_LENGTH:
        return (f"The push endpoint is too long (at most {limits.MAX_PUSH_ENDPOINT_LENGTH} "
                "characters).")
    try:
        url = urlsplit(endpoint)
        host = url.hostname
        url.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        return "The push endpoint is not a URL."
    if url.scheme not in ("https", "http") or not host:
        return "The push endpoint must be an https:// URL of a push service."
    if url.username is not None or url.password is not None:
        return "The push endpoint must not carry a user name or password."
    if any(c.isspace() or ord(c) < 0x20 for c in endpoint):
        return "The push endpoint must not contain spaces or control characters."
    name = host.rstrip(".").lower()
    literal = "127.0.0.1" if name == "localhost" or name.endswith(".localhost") else name
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(literal)
    except ValueError:
        ip = None
    if ip is not None and not address_allowed(str(ip), networks):
        return ("The push endpoint is on a private, loopback or link-local address: a push "
                "service is on the internet.")
    if url.scheme == "http" and (ip is None or not ip.is_loopback):
        return "The push endpoint must be an https:// URL of a push service."
    return None


class RefusedAddress(OSError):
    """A push endpoint's name resolved only to addresses the server may not call."""


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, keeping only addresses the server may call (a public name
    that resolves to 10.0.0.5 is refused at connect time, not only when subscribed)."""

    def __init__(self, networks: Sequence[Network]) -> None:
        self.networks = networks
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        allowed = [r for r in found if address_allowed(r["host"], self.networks)]
        if not allowed:
            raise RefusedAddress(f"{host} resolves to no address a push may go to")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


# -- the channel -----------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """One browser to push to (a copy of its subscription row)."""

    id: int
    endpoint: str
    p256dh: str
    auth: str


class VapidSigner:
    """Authorization headers per push service origin, signed once and reused until
    VAPID_TOKEN_RENEW_BEFORE of their VAPID_TOKEN_LIFETIME is left."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, subject: str) -> None:
        # no-strict: py_vapid's own check of `sub` refuses ordinary https URLs with a
        # path or port; Settings already checked it is mailto: or https:.
        self.vapid = Vapid02(key, conf={"no-strict": True})
        self.subject = subject
        self._tokens: dict[str, tuple[float, str]] = {}

    def authorization(self, endpoint: str) -> str:
        url = urlsplit(endpoint)
        aud = f"{url.scheme}://{url.netloc}"
        now = time.time()
        cached = self._tokens.get(aud)
        if cached is not None and cached[0] - now > limits.VAPID_TOKEN_RENEW_BEFORE:
            return cached[1]
        exp = int(now) + limits.VAPID_TOKEN_LIFETIME
        header = str(self.vapid.sign({"aud": aud, "exp": exp, "sub": self.subject})[
            "Authorization"])
        if len(self._tokens) > 1000:  # push services are few; never grow without bound
            self._tokens.clear()
        self._tokens[aud] = (exp, header)
        return header


class PushChannel(Channel):
    name = store.PUSH

    def __init__(self, db: Database, key: ec.EllipticCurvePrivateKey, subject: str,
                 base_url: str, networks: Sequence[Network] = (),
                 queue_size: int = limits.DELIVERY_QUEUE_SIZE) -> None:
        super().__init__(queue_size)
        self.db = db
        self.key = key
        self.public_key = application_server_key(key)
        self.signer = VapidSigner(key, subject)
        self.base_url = base_url.rstrip("/")
        self.networks = list(networks)
        self.counts["gone"] = 0  # subscriptions deleted because the push service said so

    async def send(self, delivery: Delivery) -> None:
        message, targets = await threads.run(threads.DATABASE, self._read, delivery)
        if not targets:
            return
        # An invitation to speak matters now; the rest may wait for a phone's next wake.
        urgency = "high" if delivery.kind == INVITED else "normal"
        gone: list[int] = []
        failures: list[str] = []
        pending = iter(targets)
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.networks),
                                         limit=limits.PUSH_SENDS_AT_ONCE)
        timeout = aiohttp.ClientTimeout(total=limits.PUSH_TIMEOUT)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def worker() -> None:
                for target in pending:  # shared: each worker takes the next one
                    outcome = await self._push(session, target, message, urgency)
                    if outcome is None:
                        self.counts["sent"] += 1
                    elif outcome == "gone":
                        gone.append(target.id)
                    else:
                        self.counts["failed"] += 1
                        failures.append(outcome)

            await asyncio.gather(*(worker() for _ in range(
                min(limits.PUSH_SENDS_AT_ONCE, len(targets)))))
        if gone:
            await threads.run(threads.DATABASE, self._forget, gone)
            self.counts["gone"] += len(gone)
        if failures:
            log.warning("web push for %s of Space %s: %d of %d failed (first: %s)",
                        delivery.kind, delivery.space_id, len(failures), len(targets),
                        failures[0])

    async def _push(self, session: aiohttp.ClientSession, target: Target, message: bytes,
                    urgency: str) -> str | None:
        """Send one; None when the push service took it, "gone", or why it failed."""
        origin = urlsplit(target.endpoint).netloc
        problem = endpoint_problem(target.endpoint, self.networks)
        if problem is not None:  # stored before the operator narrowed the networks
            return f"{origin}: {problem}"
        try:
            body, headers = await threads.run(threads.PUSH, self._encrypt, target, message,
                                              urgency)
            async with session.post(target.endpoint, data=body, headers=headers,
                                    allow_redirects=False) as response:
                status = response.status
                reason = (await response.content.read(200)).decode(errors="replace")
        except Exception as exc:  # noqa: BLE001 (one browser's failure never stops the batch:
            # network errors, a refused address, a key py_vapid cannot sign for, e.g. an
            # IPv6 literal `aud` it does not accept)
            return f"{origin}: {type(exc).__name__}: {str(exc)[:200]}"
        if 200 <= status < 300:
            return None
        if status in GONE:
            return "gone"
        return f"{origin}: {status} {reason.strip()[:200]}"

    def _encrypt(self, target: Target, message: bytes,
                 urgency: str) -> tuple[bytes, dict[str, str]]:
        """The encrypted body and the headers for one push (on the PUSH thread)."""
        pusher = WebPusher({"endpoint": target.endpoint,
                            "keys": {"p256dh": target.p256dh, "auth": target.auth}})
        body = pusher.encode(message, "aes128gcm")["body"]
        return body, {"Authorization": self.signer.authorization(target.endpoint),
                      "TTL": str(limits.PUSH_TTL), "Content-Encoding": "aes128gcm",
                      "Content-Type": "application/octet-stream",
                      "Urgency": urgency}

    def message(self, kind: str, space_id: str, actor: User | None,
                space: Space | None) -> bytes:
        name = (actor.display_name or actor.username) if actor is not None else "Someone"
        title = space.title if space is not None else ""
        return json.dumps({"title": sentence(kind, name, title),
                           "body": ACTIONS.get(kind, ""),
                           "url": f"{self.base_url}/s/{space_id}", "kind": kind},
                          ensure_ascii=False).encode()

    def _read(self, delivery: Delivery) -> tuple[bytes, list[Target]]:
        with self.db.session() as db:
            message = self.message(delivery.kind, delivery.space_id,
                                   db.get(User, delivery.actor_id),
                                   db.get(Space, delivery.space_id))
            rows = store.push_subscriptions(db, delivery.user_ids)
            return message, [Target(r.id, r.endpoint, r.p256dh, r.auth) for r in rows]

    def _forget(self, ids: list[int]) -> None:
        with self.db.session() as db:
            db.execute(delete(PushSubscription).where(PushSubscription.id.in_(ids)))


def push_channel(db: Database, settings: Settings) -> PushChannel:
    """The channel as this deployment's settings make it (reads or makes the key file:
    called once at startup)."""
    key = load_vapid_key(settings.vapid_private_key, settings.data_dir)
    return PushChannel(db, key, settings.push_subject, settings.base_url,
                       settings.push_networks)
