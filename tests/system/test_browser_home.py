"""The home page in a real browser: "Following" (the live and upcoming Spaces of hosts
you follow) comes before "Discover", whose cards each say why they are there in the
server's words; turning Discover off leaves "Discover is off — turn it on" in its place,
and turning it on brings the cards back. On a Space page a signed-in listener can
listen incognito (remembered in this browser): the player's beacons say so and the room
does not list them. Screenshots at 1280x800 and 390x844 go to test-artifacts/;
axe-core finds nothing serious or critical."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest

from townhall.http.common.deps import SESSION_COOKIE
from townhall.testing.browser import axe_violations, describe_violations
from townhall.testing.servers import Server, invite_speaker, live_space, signed_in_client
from tests.system.test_browser import (  # noqa: F401  (browser: the fixture)
    PLAY_TIMEOUT_MS, browser, new_page, screenshot, wait_js, wait_playing)

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
UI_MS = 15_000
# A beacon goes when playback starts, then every 10 s: allow a few.
BEACON_S = 40.0


def _me(client: httpx.Client) -> dict:
    return client.get("/api/me").json()


def _signed_in_page(browser, server: Server, client: httpx.Client, name: str, viewport: dict):  # noqa: F811
    page = new_page(browser, name, viewport=viewport)
    page.context.add_cookies([{"name": SESSION_COOKIE, "domain": urlsplit(server.base_url).hostname,
                               "path": "/", "value": client.cookies[SESSION_COOKIE]}])
    return page


def _assert_accessible(page) -> None:
    violations = axe_violations(page)
    assert not violations, describe_violations(violations)


def _fits(page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page is {width} px wide"


def test_following_then_discover_with_reasons_and_discover_off(server: Server, browser) -> None:  # noqa: F811
    base = server.base_url
    fan, followed, stranger, voice = (signed_in_client(base, p)
                                      for p in ("homefan", "homefollowed", "homestranger", "homevoice"))
    for person in (followed, voice):
        assert fan.post(f"/api/users/{_me(person)['username']}/follow").status_code == 200
    mine = live_space(followed, "Followed: on air")
    start = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    later = followed.post("/api/spaces", json={"title": "Followed: later",
                                               "scheduled_start": start}).json()
    theirs = live_space(stranger, "A stranger with a friend on stage")
    invite_speaker(stranger, voice, theirs["id"])
    try:
        page = _signed_in_page(browser, server, fan, "home", DESKTOP)
        page.goto(f"{base}/")
        page.wait_for_selector(f"#following-live li[data-space-id='{mine['id']}']", timeout=UI_MS)
        page.wait_for_selector(f"#following-upcoming li[data-space-id='{later['id']}']")
        card = page.wait_for_selector(f"#discover-list li[data-space-id='{theirs['id']}']")
        reasons = [r.text_content() for r in card.query_selector_all(".reason")]
        assert reasons[0] == "1 person you follow is speaking", reasons
        assert "Live now" in reasons
        assert card.is_visible() and card.query_selector(".reason").is_visible()
        # Following is first, and nothing of a followed host is in Discover.
        tops = page.evaluate("() => ['following-card', 'discover-card'].map("
                             "(id) => document.getElementById(id).getBoundingClientRect().top)")
        assert tops[0] < tops[1], tops
        discovered = page.eval_on_selector_all(
            "#discover-list li[data-space-id]", "(items) => items.map((i) => i.dataset.spaceId)")
        assert mine["id"] not in discovered and later["id"] not in discovered
        assert page.is_hidden("#following-empty")
        page.click("#discover-how summary")
        assert "log10" in page.text_content("#discover-formula")
        screenshot(page, "home-following-discover-desktop.png")
        _assert_accessible(page)

        page.set_viewport_size(PHONE)
        page.wait_for_selector(f"#discover-list li[data-space-id='{theirs['id']}'] .reason")
        _fits(page)
        screenshot(page, "home-following-discover-phone.png")
        _assert_accessible(page)

        # Discover off: the section says so in place, with the way back.
        page.click("#discover-off-button")
        page.wait_for_selector("#discover-off", state="visible", timeout=UI_MS)
        assert page.text_content("#discover-off").strip() == "Discover is off — turn it on"
        assert page.is_hidden("#discover-list") and page.is_hidden("#discover-off-button")
        assert fan.get("/api/me/settings").json()["discover"] is False
        assert page.is_visible(f"#following-live li[data-space-id='{mine['id']}']")
        _fits(page)
        screenshot(page, "home-discover-off-phone.png")
        _assert_accessible(page)
        page.set_viewport_size(DESKTOP)
        screenshot(page, "home-discover-off-desktop.png")
        page.click("#discover-on-button")
        page.wait_for_selector(f"#discover-list li[data-space-id='{theirs['id']}']",
                               state="visible", timeout=UI_MS)
        assert fan.get("/api/me/settings").json()["discover"] is True
        page.context.close()

        # Signed out: no Following, a way to sign in, and Discover with reasons.
        anonymous = new_page(browser, "home-anonymous", viewport=PHONE)
        anonymous.goto(f"{base}/")
        card = anonymous.wait_for_selector(f"#discover-list li[data-space-id='{mine['id']}']",
                                           timeout=UI_MS)
        assert card.query_selector(".reason")
        assert anonymous.is_visible("#following-signed-out")
        assert anonymous.is_hidden("#discover-off-button")
        _fits(anonymous)
        _assert_accessible(anonymous)
        anonymous.context.close()
    finally:
        for host, space in ((followed, mine), (stranger, theirs)):
            host.post(f"/api/spaces/{space['id']}/end")
        followed.post(f"/api/spaces/{later['id']}/cancel")


def test_listening_incognito_is_remembered_and_not_shown(server: Server, browser) -> None:  # noqa: F811
    base = server.base_url
    host, shy = signed_in_client(base, "waitinghost"), signed_in_client(base, "shy")
    start = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    waiting = host.post("/api/spaces", json={"title": "Not yet", "scheduled_start": start}).json()
    page = _signed_in_page(browser, server, shy, "incognito", PHONE)
    try:
        # Chosen on one Space's page (not on air: no beacon can name them first) ...
        page.goto(f"{base}/s/{waiting['id']}")
        page.wait_for_selector("#incognito-row", state="visible", timeout=UI_MS)
        assert not page.is_checked("#incognito")
        assert page.text_content("#incognito-hint") == "People in the room can see you're listening."
        page.click("#incognito")
        page.wait_for_function("() => document.getElementById('incognito-hint').textContent"
                               " === \"You're counted but not shown in the room.\"", timeout=UI_MS)
        _fits(page)
        screenshot(page, "space-incognito-phone.png")
        _assert_accessible(page)

        # ... it holds on the next (the demo Space, on air): counted, never named.
        beacons: list[dict] = []  # the bodies of the beacons the server took (204)

        def is_beacon(response) -> bool:  # type: ignore[no-untyped-def]
            return response.url.endswith("/api/spaces/demo/beacon") and response.status == 204

        page.on("response", lambda r: beacons.append(json.loads(r.request.post_data or "{}"))
                if is_beacon(r) else None)
        page.goto(f"{base}/s/demo")
        page.wait_for_selector("#incognito-row", state="visible", timeout=UI_MS)
        assert page.is_checked("#incognito")
        wait_playing(page, 0.5, PLAY_TIMEOUT_MS, "the incognito listener")
        if not beacons:  # Playwright hands over events only while it is called
            page.wait_for_event("response", is_beacon, timeout=BEACON_S * 1000)
        assert beacons, "no beacon was taken"
        assert all(b.get("incognito") is True for b in beacons), beacons
        me = _me(shy)["id"]
        roster = httpx.get(f"{base}/api/spaces/demo/listeners").json()
        assert me not in [p["id"] for p in roster["people"]], roster
        assert roster["anonymous"] >= 1, roster
        page.set_viewport_size(DESKTOP)
        screenshot(page, "space-incognito-desktop.png")
    finally:
        page.context.close()
        host.post(f"/api/spaces/{waiting['id']}/cancel")
