"""Private Spaces: invite-only listening over signed, expiring, cache-shareable HLS URLs.

Against the session's real server: a private live Space where the host plays 660 Hz
over WHIP; an invited listener's signed URL plays it (checked by decoding the audio),
everything else gets a 403 (plain URLs, expired, tampered and foreign tokens) and never
reaches the audio. The signer's own properties are checked without a server at the end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from townhall.testing.audio import dominant_frequency
from townhall.testing.servers import CLIENT_LIMITS, Server, signed_in_client, stage
from townhall.tools.clients.hls import HlsReader
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher, sine
from townhall.http.delivery.signed import (
    BUCKET,
    SECRET_FILE,
    VALIDITY,
    InvalidToken,
    UrlSigner,
    load_secret,
)
from townhall.media.sources import DEMO_TUNE

TONE_HZ = 660


@dataclass
class Private:
    server: Server
    host: httpx.Client
    guest: httpx.Client
    outsider: httpx.Client
    anonymous: httpx.Client
    space_id: str
    guest_name: str

    @property
    def plain(self) -> str:
        return f"{self.server.base_url}/hls/{self.space_id}"

    def signer(self) -> UrlSigner:
        """The server's own signer (its secret is in its data dir): to forge expired URLs."""
        return UrlSigner(load_secret("", self.server.data_dir))


def _username(client: httpx.Client) -> str:
    return client.get("/api/me").json()["username"]


def _ok(response: httpx.Response) -> dict:
    assert response.is_success, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json()


@pytest.fixture(scope="module")
def private(server: Server) -> Iterator[Private]:
    """A private live Space: the host speaks 660 Hz; `guest` is on the guest list."""
    host, guest, outsider = (signed_in_client(server.base_url, p) for p in ("pvhost", "pvguest", "pvout"))
    anonymous = httpx.Client(base_url=server.base_url, timeout=20, limits=CLIENT_LIMITS)
    space = _ok(host.post("/api/spaces", json={"title": "Board meeting", "private": True}))
    assert space["private"] is True
    _ok(host.post(f"/api/spaces/{space['id']}/live"))
    guest_name = _username(guest)
    out = _ok(host.post(f"/api/spaces/{space['id']}/listeners/{guest_name}"))
    assert [g["username"] for g in out["guests"]] == [guest_name]
    yield Private(server, host, guest, outsider, anonymous, space["id"], guest_name)
    host.post(f"/api/spaces/{space['id']}/end")
    for client in (host, guest, outsider, anonymous):
        client.close()


async def _listen(url: str, seconds: float = 2.0) -> float:
    async with httpx.AsyncClient() as client:
        reader = HlsReader(url, client)
        await reader.start(parts_back=0)
        await reader.read_seconds(seconds, timeout=30)
    pcm, _ = reader.decode()
    return dominant_frequency(pcm[len(pcm) // 4:])


def _refused(response: httpx.Response, words: str = "") -> str:
    assert response.status_code == 403, f"{response.request.url}: {response.status_code} {response.text[:200]}"
    assert response.headers["cache-control"] == "no-store"
    detail = response.json()["detail"]
    assert words in detail, detail
    return detail


# -- listening ----------------------------------------------------------------------------
async def test_an_invited_listener_plays_the_signed_url(private: Private) -> None:
    playback = _ok(private.guest.get(f"/api/spaces/{private.space_id}/playback"))
    assert playback["private"] is True and playback["replay"] is None
    live = playback["live"]
    assert urlsplit(live).path.startswith(f"/hls/{private.space_id}/t/") and "?" not in live
    assert time.time() + VALIDITY <= playback["expires"] <= time.time() + VALIDITY + BUCKET
    creds = stage(private.host, private.space_id)
    publisher = WhipPublisher(creds["whip_url"], creds["token"], SyntheticTrack(sine(TONE_HZ)))
    await publisher.start()
    try:
        assert abs(await _listen(live) - TONE_HZ) <= 5
        # The LL-DASH manifest lives beside the playlist, under the same token.
        manifest = httpx.get(live.replace("live.m3u8", "live.mpd"), timeout=20)
        assert manifest.status_code == 200, manifest.text
        assert manifest.headers["content-type"] == "application/dash+xml"
        assert 'media="d' in manifest.text
        # So do the one-stream path and the edge's access check.
        access = httpx.get(live.replace("live.m3u8", "stream.access"), timeout=20)
        assert access.status_code == 204, access.text
        with httpx.stream("GET", live.replace("live.m3u8", "live.stream"), timeout=20) as stream:
            assert stream.status_code == 200
            assert next(stream.iter_raw())  # the chunk being made, at once
    finally:
        await publisher.stop()

    # Media objects live under the token's prefix; caches keep them no longer than it lives.
    base = live.rsplit("/", 1)[0]
    init = httpx.get(f"{base}/init.mp4")
    assert init.status_code == 200 and init.content
    cache = init.headers["cache-control"]
    assert cache.startswith("public, max-age=") and "immutable" in cache
    max_age = int(cache.split("max-age=")[1].split(",")[0])
    assert 0 < max_age <= playback["expires"] - time.time() + 1


async def test_speakers_and_moderators_get_urls_too(private: Private) -> None:
    assert "/t/" in _ok(private.host.get(f"/api/spaces/{private.space_id}/playback"))["live"]


def test_two_listeners_in_one_bucket_get_identical_urls(private: Private) -> None:
    """Everyone asking within one bucket shares the URLs, so a cache keeps one copy."""
    for _ in range(3):  # unless the bucket turned over between the two asks
        first = _ok(private.guest.get(f"/api/spaces/{private.space_id}/playback"))
        second = _ok(private.host.get(f"/api/spaces/{private.space_id}/playback"))
        if first["expires"] == second["expires"]:
            break
    assert first == second


# -- refusals -------------------------------------------------------------------------------
def test_plain_urls_of_a_private_space_are_refused(private: Private) -> None:
    for name in ("live.m3u8", "live.m3u8?_HLS_msn=1&_HLS_part=0", "replay.m3u8", "init.mp4",
                 "seg1.m4s", "seg1.0.m4s", "live.mpd", "d0-0.m4s", "live.stream",
                 "stream.access"):
        _refused(httpx.get(f"{private.plain}/{name}"), "private")
    # ...even for the host and an invited guest: the cookie is not the key, the URL is.
    _refused(private.guest.get(f"{private.plain}/live.m3u8"))


def test_outsiders_get_no_url_and_see_nothing(private: Private) -> None:
    url = f"/api/spaces/{private.space_id}"
    _refused_json = lambda r, status: (r.status_code == status and r.json()["detail"]) or r.text  # noqa: E731
    assert "private" in _refused_json(private.outsider.get(f"{url}/playback"), 403)
    assert _refused_json(private.anonymous.get(f"{url}/playback"), 401)
    for path in ("", "/calendar.ics"):
        assert "private" in _refused_json(private.outsider.get(url + path), 403)
    with private.outsider.stream("GET", f"{url}/events") as events:
        assert events.status_code == 403
    assert private.outsider.post(f"{url}/reactions", json={"emoji": "👏"}).status_code == 403
    # Not in the lists, nor on the host's profile, for outsiders; members see it.
    host_name = _username(private.host)
    for client, sees in ((private.anonymous, False), (private.outsider, False), (private.guest, True)):
        listed = _ok(client.get("/api/spaces"))["live"]
        assert (private.space_id in {s["id"] for s in listed}) == sees
        profile = _ok(client.get(f"/api/users/{host_name}"))["spaces"]
        assert (private.space_id in {s["id"] for s in profile}) == sees


def test_expired_tampered_and_foreign_tokens_are_refused(private: Private) -> None:
    signer, space_id = private.signer(), private.space_id
    valid = _ok(private.guest.get(f"/api/spaces/{space_id}/playback"))["live"]
    assert httpx.get(valid).status_code == 200
    token = valid.split("/t/")[1].split("/")[0]
    exp, sig = token.split(".")
    expired = int(time.time()) - 1
    other = _ok(private.host.post("/api/spaces", json={"title": "Other", "private": True}))["id"]
    try:
        foreign = _ok(private.host.get(f"/api/spaces/{other}/playback"))["live"].split("/t/")[1].split("/")[0]
        cases = {
            "expired": (f"{expired}.{signer.signature(space_id, expired)}", "expired"),
            "later exp": (f"{int(exp) + BUCKET}.{sig}", "not valid"),
            "earlier exp": (f"{int(exp) - BUCKET}.{sig}", "not valid"),
            "signature": (f"{exp}.{sig[:-1]}{'A' if sig[-1] != 'A' else 'B'}", "not valid"),
            "another Space's": (foreign, "not valid"),
            "garbage": ("hello", "not a listening token"),
            "far future": (f"{int(exp) + 10 * BUCKET}.{signer.signature(space_id, int(exp) + 10 * BUCKET)}",
                           "not valid yet"),
        }
        for what, (bad, words) in cases.items():
            for name in ("live.m3u8", "init.mp4", "seg1.0.m4s", "replay.m3u8"):
                detail = _refused(httpx.get(f"{private.plain}/t/{bad}/{name}"), words)
                assert detail, what
    finally:
        _ok(private.host.post(f"/api/spaces/{other}/cancel"))


def test_a_private_waiting_room_opens_only_for_a_signed_url(private: Private, server: Server) -> None:
    start = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    space = _ok(private.host.post("/api/spaces", json={"title": "Later", "private": True,
                                                       "scheduled_start": start}))
    try:
        on_air = httpx.get(f"{server.base_url}/healthz").json()["live_spaces"]
        _refused(httpx.get(f"{server.base_url}/hls/{space['id']}/live.m3u8"))
        assert httpx.get(f"{server.base_url}/healthz").json()["live_spaces"] == on_air
        signed = _ok(private.host.get(f"/api/spaces/{space['id']}/playback"))["live"]
        waiting = httpx.get(signed, timeout=20)
        assert waiting.status_code == 200 and "#EXTM3U" in waiting.text
    finally:
        _ok(private.host.post(f"/api/spaces/{space['id']}/cancel"))


def test_privacy_changes_only_before_the_start(private: Private, server: Server) -> None:
    url = f"/api/spaces/{private.space_id}"
    refused = private.host.patch(url, json={"private": False})
    assert refused.status_code == 409 and "before it starts" in refused.json()["detail"]
    assert private.host.patch(url, json={"private": True}).status_code == 200  # no change

    start = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    space = _ok(private.host.post("/api/spaces", json={"title": "Soon", "scheduled_start": start}))
    try:
        assert space["private"] is False
        assert httpx.get(f"{server.base_url}/hls/{space['id']}/replay.m3u8").status_code == 404
        made = _ok(private.host.patch(f"/api/spaces/{space['id']}", json={"private": True}))
        assert made["private"] is True
        _refused(httpx.get(f"{server.base_url}/hls/{space['id']}/replay.m3u8"))
    finally:
        _ok(private.host.post(f"/api/spaces/{space['id']}/cancel"))


def test_the_guest_list_is_the_hosts(private: Private) -> None:
    url = f"/api/spaces/{private.space_id}/listeners"
    name = _username(private.outsider)
    assert private.guest.post(f"{url}/{name}").status_code == 403  # guests do not invite
    assert private.host.post(f"{url}/nobody-by-that-name").status_code == 404
    _ok(private.host.post(f"{url}/{name}"))
    try:
        assert private.host.post(f"{url}/{name}").status_code == 409
        assert "/t/" in _ok(private.outsider.get(f"/api/spaces/{private.space_id}/playback"))["live"]
    finally:
        _ok(private.host.delete(f"{url}/{name}"))
    assert private.outsider.get(f"/api/spaces/{private.space_id}/playback").status_code == 403
    assert private.host.delete(f"{url}/{name}").status_code == 409


def test_people_invited_to_speak_may_listen(private: Private) -> None:
    invitee = signed_in_client(private.server.base_url, "pvspk")
    try:
        url = f"/api/spaces/{private.space_id}"
        assert invitee.get(f"{url}/playback").status_code == 403
        _ok(private.host.post(f"{url}/speakers", json={"username": _username(invitee)}))
        assert _ok(invitee.get(url))["your_role"] == "listener"
        assert "/t/" in _ok(invitee.get(f"{url}/playback"))["live"]
    finally:
        invitee.close()


def test_listeners_of_a_private_space_are_counted(private: Private) -> None:
    """The beacon stays open (it reveals nothing and needs no cookie, like the player)."""
    url = f"/api/spaces/{private.space_id}"
    session = f"private{time.time_ns()}"
    assert httpx.post(f"{private.server.base_url}{url}/beacon", json={"session": session}).status_code == 204
    assert _ok(private.guest.get(url))["listeners"] >= 1


def test_the_space_page_says_private_to_outsiders(private: Private) -> None:
    page = private.outsider.get(f"/s/{private.space_id}")
    assert page.status_code == 403
    assert "private" in page.text.lower() and "Board meeting" not in page.text
    assert "og:title" not in page.text
    member = private.guest.get(f"/s/{private.space_id}")
    assert member.status_code == 200 and "Board meeting" in member.text


# -- public Spaces are as before -------------------------------------------------------------
async def test_a_public_space_is_unchanged(server: Server) -> None:
    plain = f"{server.base_url}/hls/demo/live.m3u8"
    assert httpx.get(plain).status_code == 200
    with httpx.Client(base_url=server.base_url) as anonymous:
        playback = _ok(anonymous.get("/api/spaces/demo/playback"))
    assert playback == {"live": plain, "replay": None, "expires": None, "private": False}
    # A signed URL works for a public Space too (harmless: anyone may listen).
    token, _ = UrlSigner(load_secret("", server.data_dir)).token("demo", time.time())
    signed = f"{server.base_url}/hls/demo/t/{token}/live.m3u8"
    assert httpx.get(signed).status_code == 200
    assert httpx.get(signed).text.startswith("#EXTM3U")
    # What plays is the demo tune: over more than the tune's silences (1.3 s of its 4 s)
    # the loudest frequency is one of its notes.
    heard = await _listen(plain, 4.0)
    assert heard > 0
    assert min(abs(heard - note) for note, _ in DEMO_TUNE if note) < 20, heard


# -- the signer, without a server -------------------------------------------------------------
SIGNER = UrlSigner(b"k" * 32)
NOW = 1_800_000_000.0


def test_expiry_is_bucketed() -> None:
    exp = SIGNER.expiry(NOW)
    assert exp % BUCKET == 0 and NOW + VALIDITY <= exp < NOW + VALIDITY + BUCKET
    assert SIGNER.token("abc", NOW) == SIGNER.token("abc", NOW + 1) or exp - NOW - VALIDITY < 1
    token, exp = SIGNER.token("abc", NOW)
    assert SIGNER.check("abc", token, NOW) == exp
    assert SIGNER.check("abc", token, exp - 1) == exp
    with pytest.raises(InvalidToken, match="expired"):
        SIGNER.check("abc", token, exp)
    with pytest.raises(InvalidToken):
        SIGNER.check("abd", token, NOW)
    with pytest.raises(InvalidToken):
        UrlSigner(b"j" * 32).check("abc", token, NOW)


@given(space_id=st.text(min_size=1, max_size=16), token=st.text(max_size=60))
def test_no_valid_signature_from_random_input(space_id: str, token: str) -> None:
    with pytest.raises(InvalidToken):
        SIGNER.check(space_id, token, NOW)


@given(space_id=st.from_regex(r"[A-Za-z0-9_-]{1,16}", fullmatch=True),
       sig=st.from_regex(r"[A-Za-z0-9_-]{22}", fullmatch=True),
       offset=st.integers(min_value=1, max_value=VALIDITY + BUCKET))
def test_no_valid_signature_from_well_formed_guesses(space_id: str, sig: str, offset: int) -> None:
    exp = int(NOW) + offset
    if sig == SIGNER.signature(space_id, exp):
        return  # 2**-128
    with pytest.raises(InvalidToken):
        SIGNER.check(space_id, f"{exp}.{sig}", NOW)


@given(space_id=st.from_regex(r"[A-Za-z0-9_-]{1,16}", fullmatch=True),
       now=st.floats(min_value=1e9, max_value=4e9))
def test_every_token_checks_until_it_expires(space_id: str, now: float) -> None:
    token, exp = SIGNER.token(space_id, now)
    assert SIGNER.check(space_id, token, now) == exp
    with pytest.raises(InvalidToken):
        SIGNER.check(space_id, token, exp)


def test_the_secret_is_made_once_and_kept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = load_secret("", tmp_path)
    assert load_secret("", tmp_path) == first and len(first) == 64
    assert (tmp_path / SECRET_FILE).stat().st_mode & 0o077 == 0
    assert load_secret("x" * 20, tmp_path) == b"x" * 20
    with pytest.raises(ValueError):
        load_secret("short", tmp_path)


def test_an_older_database_gets_the_private_column(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import inspect, text

    from tests.store.test_migrations import _without_profiles
    from townhall.store.db import Database

    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = Database(url)
    with db.engine.begin() as connection:  # as it was before private Spaces
        connection.execute(text("ALTER TABLE spaces DROP COLUMN private"))
        _without_profiles(connection)  # ... so also before profiles (0003) and later
        connection.execute(text("DROP TABLE alembic_version"))  # and before migrations
    db.close()
    db = Database(url)
    assert "private" in {c["name"] for c in inspect(db.engine).get_columns("spaces")}
    db.close()
