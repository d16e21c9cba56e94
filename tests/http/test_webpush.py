"""Web Push against a local push service: a small HTTP server on 127.0.0.1 that does what
a browser's push service and the browser do with a push. It checks the VAPID header
(`vapid t=<JWT>, k=<key>`: the ES256 signature against k, k being the server's
application server key, `aud` its own origin, `exp` ahead and at most 24 h away, `sub`
present), `Content-Encoding: aes128gcm` and TTL, and decrypts the body with the
subscriber's own ECDH private key and auth secret (http_ece), as the browser would.

The server under test runs with TOWNHALL_PUSH_ENDPOINT_NETWORKS=127.0.0.0/8 (its push
endpoints may be on loopback, over plain http); by default they may not
(`endpoint_problem` is tested for that directly). Covered: a follower's browser gets
"<host> is live: <title>" linking to /s/{id}; someone who turned "live" off for push gets
nothing; a 410 from the push service deletes the subscription (a 500 keeps it);
malformed subscriptions are refused in words; an account's number of browsers is
capped; re-subscribing updates rather than duplicates.

No sleeps: a channel sends its batches in order, so a later push arriving means an
earlier batch is finished (the "barrier" below)."""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import http_ece
import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from townhall import limits
from townhall.app.webpush import (KEY_FILE, GuardedResolver, RefusedAddress, endpoint_problem,
                                  load_vapid_key)
from townhall.testing.servers import (MANY_SIGNUPS, Server, live_space, signed_in_client,
                                      start_server, stop_server)
from townhall.testing.waiting import wait_until

WAIT = 15.0  # seconds for the notifier and the push channel to deliver


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass
class Subscriber:
    """A browser: its own key pair and auth secret, and what its push service got."""

    token: str
    status: int = 201  # what the push service answers for this subscription
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))
    messages: list[dict] = field(default_factory=list)
    attempts: int = 0

    def subscription(self, base: str) -> dict:
        point = self.key.public_key().public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": f"{base}/push/{self.token}", "expirationTime": None,
                "keys": {"p256dh": b64e(point), "auth": b64e(self.auth)}}


class PushService:
    """The push service and the browsers behind it, on 127.0.0.1."""

    def __init__(self) -> None:
        self.subscribers: dict[str, Subscriber] = {}
        self.problems: list[str] = []  # anything a real push service or browser would refuse
        self.server_key: str = ""  # the application server key subscribers subscribed with
        self.lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = service.receive(self.path, dict(self.headers), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def subscriber(self, status: int = 201) -> Subscriber:
        sub = Subscriber(token=b64e(os.urandom(12)), status=status)
        self.subscribers[sub.token] = sub
        return sub

    def check_vapid(self, authorization: str) -> str:
        """The VAPID header as RFC 8292 has it; the key it names."""
        scheme, _, params = authorization.partition(" ")
        assert scheme.lower() == "vapid", authorization[:40]
        parts = dict(p.strip().split("=", 1) for p in params.split(","))
        token, key = parts["t"], parts["k"]
        head, claims, signature = token.split(".")
        assert json.loads(b64d(head)) == {"typ": "JWT", "alg": "ES256"}
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(key))
        raw = b64d(signature)
        assert len(raw) == 64, "ES256 signatures are r || s, 64 bytes"
        public.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                           int.from_bytes(raw[32:], "big")),
                      f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
        said = json.loads(b64d(claims))
        now = time.time()
        assert said["aud"] == self.origin, said
        assert now < said["exp"] <= now + 24 * 3600, said
        assert said.get("sub", "").startswith(("mailto:", "https://")), said
        return key

    def receive(self, path: str, headers: dict[str, str], body: bytes) -> int:
        sub = self.subscribers.get(path.rsplit("/", 1)[-1])
        if sub is None:
            return 404
        headers = {k.lower(): v for k, v in headers.items()}
        with self.lock:
            sub.attempts += 1
            try:
                key = self.check_vapid(headers["authorization"])
                assert key == self.server_key, "signed with another key than subscribed to"
                assert headers.get("content-encoding") == "aes128gcm", headers
                assert int(headers["ttl"]) > 0, headers
                plain = http_ece.decrypt(body, private_key=sub.key, auth_secret=sub.auth,
                                         version="aes128gcm")
                message = json.loads(plain)
            except Exception as exc:  # noqa: BLE001 (a test double: say what was wrong)
                self.problems.append(f"{type(exc).__name__}: {exc}")
                return 400
            if sub.status < 300:
                sub.messages.append(message)
            return sub.status


@pytest.fixture(scope="module")
def push_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("push"), command="serve", extra_env={
        **MANY_SIGNUPS, "TOWNHALL_PUSH_ENDPOINT_NETWORKS": "127.0.0.0/8"})
    yield server
    stop_server(server)
    assert "Traceback" not in server.log(), server.log()[-5000:]


@pytest.fixture
def service(push_server: Server) -> Iterator[PushService]:
    svc = PushService()
    svc.server_key = httpx.get(f"{push_server.base_url}/api/push/key").json()["key"]
    yield svc
    svc.close()
    assert not svc.problems, svc.problems


def clients(server: Server, *prefixes: str) -> list[httpx.Client]:
    return [signed_in_client(server.base_url, p) for p in prefixes]


def username(client: httpx.Client) -> str:
    return str(client.get("/api/me").json()["username"])


def subscribe(client: httpx.Client, subscription: dict, expect: int = 201) -> httpx.Response:
    response = client.post("/api/me/push-subscriptions", json=subscription)
    assert response.status_code == expect, response.text
    return response


def test_the_key_is_a_p256_point_kept_in_the_data_dir(push_server: Server) -> None:
    answer = httpx.get(f"{push_server.base_url}/api/push/key")
    assert answer.status_code == 200
    point = b64d(answer.json()["key"])
    assert len(point) == 65 and point[0] == 4
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)  # on the curve
    path = push_server.data_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kept = load_vapid_key("", push_server.data_dir).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert kept == point
    sw = httpx.get(f"{push_server.base_url}/sw.js")
    assert sw.status_code == 200 and "javascript" in sw.headers["content-type"]
    assert "showNotification" in sw.text


def test_a_follower_gets_an_encrypted_push_when_the_host_goes_live(
        push_server: Server, service: PushService) -> None:
    host, fan = clients(push_server, "phost", "pfan")
    host.patch(f"/api/users/{username(host)}", json={"display_name": "Ada Lovelace"})
    browser = service.subscriber()
    created = subscribe(fan, browser.subscription(service.origin))
    assert created.json()["endpoint"] == f"{service.origin}/push/{browser.token}"
    # The same browser again (a page load re-sends it): updated, not a second row.
    subscribe(fan, browser.subscription(service.origin), expect=200)
    listed = fan.get("/api/me/push-subscriptions").json()
    assert [s["endpoint"] for s in listed["subscriptions"]] == [created.json()["endpoint"]]
    assert listed["limit"] == limits.MAX_PUSH_SUBSCRIPTIONS_PER_USER
    assert fan.post(f"/api/users/{username(host)}/follow").status_code == 200

    space = live_space(host, "Engines of thought")
    wait_until(lambda: browser.messages, "the follower's push", timeout=WAIT)
    [message] = browser.messages
    assert message["title"] == "Ada Lovelace is live: Engines of thought"
    assert message["kind"] == "live" and message["body"]
    assert message["url"] == f"{push_server.base_url}/s/{space['id']}"
    for c in (host, fan):
        c.close()


def test_turning_live_off_for_push_stops_it(push_server: Server, service: PushService) -> None:
    host, quiet, loud = clients(push_server, "qhost", "quiet", "loud")
    quiet_browser, loud_browser = service.subscriber(), service.subscriber()
    subscribe(quiet, quiet_browser.subscription(service.origin))
    subscribe(loud, loud_browser.subscription(service.origin))
    off = quiet.patch("/api/me/settings", json={"notifications": {"live": {"push": False}}})
    assert off.status_code == 200, off.text
    assert off.json()["notifications"]["live"]["push"] is False
    for fan in (quiet, loud):
        assert fan.post(f"/api/users/{username(host)}/follow").status_code == 200

    first = live_space(host, "First")
    # Barrier: the channel sends batches in order, so the second Space's push reaching
    # `loud` means the first Space's batch (the one `quiet` would have been in) is done.
    second = live_space(host, "Second")
    wait_until(lambda: len(loud_browser.messages) == 2, "both pushes to the other fan",
               timeout=WAIT)
    assert [m["url"].rsplit("/", 1)[-1] for m in loud_browser.messages] == [first["id"],
                                                                           second["id"]]
    assert quiet_browser.attempts == 0 and quiet_browser.messages == []
    # The in-app notification still came: only push was turned off.
    texts = [n["text"] for n in quiet.get("/api/me/notifications").json()["notifications"]]
    assert any(t.endswith("is live: First") for t in texts), texts
    for c in (host, quiet, loud):
        c.close()


def test_gone_subscriptions_are_deleted_failed_ones_kept(
        push_server: Server, service: PushService) -> None:
    host, gone_fan, broken_fan = clients(push_server, "ghost", "gone", "broken")
    gone, broken = service.subscriber(status=410), service.subscriber(status=500)
    subscribe(gone_fan, gone.subscription(service.origin))
    subscribe(broken_fan, broken.subscription(service.origin))
    for fan in (gone_fan, broken_fan):
        assert fan.post(f"/api/users/{username(host)}/follow").status_code == 200
    live_space(host, "Anyone there?")
    wait_until(lambda: gone_fan.get("/api/me/push-subscriptions").json()["subscriptions"] == [],
               "the 410's subscription deleted", timeout=WAIT)
    assert gone.attempts == 1
    wait_until(lambda: broken.attempts == 1, "the push to the failing service", timeout=WAIT)
    assert len(broken_fan.get("/api/me/push-subscriptions").json()["subscriptions"]) == 1
    wait_until(lambda: "web push for live" in push_server.log(), "the failure logged",
               timeout=WAIT)
    assert "500" in push_server.log()
    for c in (host, gone_fan, broken_fan):
        c.close()


def good() -> dict:
    return Subscriber(token="x").subscription("https://push.example.org")


def with_keys(**keys: str) -> dict:
    subscription = good()
    subscription["keys"].update(keys)
    return subscription


def with_endpoint(endpoint: str) -> dict:
    return {**good(), "endpoint": endpoint}


NOT_ON_CURVE = b64e(b"\x04" + bytes(64))
COMPRESSED = b64e(b"\x02" + os.urandom(32))
MALFORMED = {
    "p256dh too short": (with_keys(p256dh=b64e(b"\x04" + os.urandom(63))), "keys", "65 bytes"),
    "p256dh compressed": (with_keys(p256dh=COMPRESSED), "keys", "65 bytes"),
    "p256dh not on the curve": (with_keys(p256dh=NOT_ON_CURVE), "keys", "not a point"),
    "p256dh not base64url": (with_keys(p256dh="not base64!"), "keys", "base64url"),
    "auth 15 bytes": (with_keys(auth=b64e(os.urandom(15))), "keys", "16 bytes"),
    "auth huge": (with_keys(auth="A" * 5000), "keys", "base64url"),
    "plain http": (with_endpoint("http://push.example.org/x"), "endpoint", "https://"),
    "not a URL": (with_endpoint("push service"), "endpoint", "https://"),
    "ftp": (with_endpoint("ftp://push.example.org/x"), "endpoint", "https://"),
    "private address": (with_endpoint("https://10.1.2.3/push/x"), "endpoint", "private"),
    "home router": (with_endpoint("https://192.168.1.1/x"), "endpoint", "private"),
    "cloud metadata": (with_endpoint("https://169.254.169.254/latest"), "endpoint", "private"),
    "IPv6 unique local": (with_endpoint("https://[fd00::1]/x"), "endpoint", "private"),
    "IPv4-mapped private": (with_endpoint("https://[::ffff:10.0.0.1]/x"), "endpoint",
                            "private"),
    "user and password": (with_endpoint("https://me:pw@push.example.org/x"), "endpoint",
                          "password"),
    "too long": (with_endpoint("https://push.example.org/" + "a" * limits.MAX_PUSH_ENDPOINT_LENGTH),
                 "endpoint", "too long"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_subscriptions_are_refused_in_words(push_server: Server, case: str) -> None:
    subscription, field_name, words = MALFORMED[case]
    client = signed_in_client(push_server.base_url, "bad")
    answer = client.post("/api/me/push-subscriptions", json=subscription)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["code"] == "invalid_request"
    assert words in body["detail"] and body["fields"] == {field_name: body["detail"]}, body
    assert client.get("/api/me/push-subscriptions").json()["subscriptions"] == []
    client.close()


def test_shapes_sign_in_and_unsubscribing(push_server: Server) -> None:
    anonymous = httpx.post(f"{push_server.base_url}/api/me/push-subscriptions", json=good())
    assert anonymous.status_code == 401
    client = signed_in_client(push_server.base_url, "shape")
    missing = client.post("/api/me/push-subscriptions", json={"endpoint": good()["endpoint"]})
    assert missing.status_code == 422 and "keys" in missing.json()["fields"]
    subscription = good()
    subscribe(client, subscription)
    unknown = client.request("DELETE", "/api/me/push-subscriptions",
                             json={"endpoint": "https://push.example.org/other"})
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    nothing = client.request("DELETE", "/api/me/push-subscriptions")
    assert nothing.status_code == 422 and "endpoint" in nothing.json()["fields"]
    # Someone else cannot remove it (it is not theirs: not found for them).
    other = signed_in_client(push_server.base_url, "other")
    theirs = other.delete("/api/me/push-subscriptions",
                          params={"endpoint": subscription["endpoint"]})
    assert theirs.status_code == 404
    gone = client.delete("/api/me/push-subscriptions",
                         params={"endpoint": subscription["endpoint"]})
    assert gone.status_code == 204
    assert client.get("/api/me/push-subscriptions").json()["subscriptions"] == []
    client.close()
    other.close()


def test_an_account_has_a_limited_number_of_browsers(push_server: Server) -> None:
    client = signed_in_client(push_server.base_url, "many")
    browsers = [Subscriber(token=f"b{i}").subscription(f"https://push{i}.example.org")
                for i in range(limits.MAX_PUSH_SUBSCRIPTIONS_PER_USER + 1)]
    for subscription in browsers[:-1]:
        subscribe(client, subscription)
    refused = client.post("/api/me/push-subscriptions", json=browsers[-1])
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "limit_reached"
    assert str(limits.MAX_PUSH_SUBSCRIPTIONS_PER_USER) in refused.json()["detail"]
    subscribe(client, browsers[0], expect=200)  # one already counted: an update
    removed = client.request("DELETE", "/api/me/push-subscriptions",
                             json={"endpoint": browsers[0]["endpoint"]})
    assert removed.status_code == 204
    subscribe(client, browsers[-1])
    client.close()


def test_by_default_push_goes_to_the_internet_only() -> None:
    """Without TOWNHALL_PUSH_ENDPOINT_NETWORKS: no loopback, no private address, no plain
    http, whatever the form of the address; names are checked when they resolve."""
    for endpoint in ("http://127.0.0.1:9/push", "https://127.0.0.1/push", "https://[::1]/x",
                     "https://localhost/x", "https://0.0.0.0/x", "https://100.64.0.1/x",
                     "https://224.0.0.1/x"):
        assert endpoint_problem(endpoint, []) is not None, endpoint
    for endpoint in ("https://fcm.googleapis.com/fcm/send/abc",
                     "https://updates.push.services.mozilla.com/wpush/v2/abc",
                     "https://web.push.apple.com/abc", "https://8.8.8.8/x"):
        assert endpoint_problem(endpoint, []) is None, endpoint
    # Allowed networks: loopback, and plain http only there.
    loopback = [ipaddress.ip_network("127.0.0.0/8")]
    assert endpoint_problem("http://127.0.0.1:9/push", loopback) is None
    assert endpoint_problem("http://10.0.0.1/push", [ipaddress.ip_network("10.0.0.0/8")])


async def test_names_resolving_to_private_addresses_are_refused() -> None:
    resolver = GuardedResolver([])
    try:
        with pytest.raises(RefusedAddress):
            await resolver.resolve("localhost", 443)
    finally:
        await resolver.close()


def test_a_vapid_key_from_settings(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    raw = b64e(key.private_numbers().private_value.to_bytes(32, "big"))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    for text in (raw, pem):
        assert load_vapid_key(text, tmp_path).private_numbers() == key.private_numbers()
    assert not (tmp_path / KEY_FILE).exists()  # a configured key is not written anywhere
    with pytest.raises(ValueError):
        load_vapid_key("not a key!", tmp_path)



def test_subscribing_again_and_again_is_rate_limited(push_server: Server) -> None:
    """Registering endpoints over and over (each a URL the server will call) is slowed
    after PUSH_SUBSCRIBE_BURST, with a sentence saying what was limited."""
    client = signed_in_client(push_server.base_url, "churn")
    browser = Subscriber(token="churn").subscription("https://push.example.org")
    subscribe(client, browser)
    for _ in range(limits.PUSH_SUBSCRIBE_BURST - 1):
        subscribe(client, browser, expect=200)
    refused = client.post("/api/me/push-subscriptions", json=browser)
    assert refused.status_code == 429, refused.text
    assert refused.json()["code"] == "rate_limited"
    assert "push subscriptions" in refused.json()["detail"]
    client.close()
