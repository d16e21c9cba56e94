"""A private Space in real browsers: the host (Chromium, 440 Hz fake microphone) goes
live; a guest's page plays it from a signed URL and hears the tone; an outsider's page
says the Space is private and shows nothing of it. Screenshots go to test-artifacts/."""

from __future__ import annotations

import httpx
import pytest
from tests.system.test_browser import (
    AUDIBLE_RMS,
    CONNECT_TIMEOUT_MS,
    PLAY_TIMEOUT_MS,
    screenshot,
    wait_js,
    wait_playing,
)
from tests.system.test_browser_spaces import DESKTOP, HOST_HZ, PHONE, SPEAKER_HZ, UI_TIMEOUT_MS, Person, browsers  # noqa: F401

pytestmark = pytest.mark.browser


def test_private_space_plays_for_guests_only(server, browsers) -> None:  # noqa: F811
    base = server.base_url.rstrip("/")
    host_user, guest, outsider = (Person(base, p) for p in ("pvbhost", "pvbguest", "pvbout"))
    created = host_user.client.post("/api/spaces", json={"title": "Members only", "private": True})
    assert created.status_code == 201, created.text
    space_id = created.json()["id"]
    added = host_user.client.post(f"/api/spaces/{space_id}/listeners/{guest.username}")
    assert added.status_code == 200, added.text

    host = host_user.open(browsers[HOST_HZ], base, "host", **DESKTOP)
    host.goto(f"{base}/s/{space_id}?original_sound=1")
    host.click("#go-live-button")
    wait_js(host, "() => window.townhallPublisher.state === 'connected'", CONNECT_TIMEOUT_MS,
            what="the host's WHIP connection")

    page = guest.open(browsers[SPEAKER_HZ], base, "guest", **PHONE)
    page.goto(f"{base}/s/{space_id}")
    page.wait_for_selector("#space-state[data-state='live']", timeout=UI_TIMEOUT_MS)
    wait_playing(page, 1.0, PLAY_TIMEOUT_MS, "the guest's player")
    url = page.evaluate("() => townhallPlayer.url")
    assert f"/hls/{space_id}/t/" in url, url
    wait_js(page, "min => window.townhallPlayer.level() > min", PLAY_TIMEOUT_MS, arg=AUDIBLE_RMS,
            what="the host's tone in the guest's player")
    screenshot(page, "private-space-guest.png")

    stranger = outsider.open(browsers[SPEAKER_HZ], base, "outsider", **PHONE)
    response = stranger.goto(f"{base}/s/{space_id}")
    assert response is not None and response.status == 403
    stranger.wait_for_selector("#private-card")
    assert "Members only" not in stranger.content()
    screenshot(stranger, "private-space-outsider.png")

    # The host puts the outsider on the guest list from the page; reloaded, theirs plays.
    host.wait_for_selector("#guests-block:not([hidden])")
    host.click("#person-block > summary")  # someone not here, by username (collapsed)
    host.fill("#person-username", outsider.username)
    host.click("#listen-user-button")
    host.wait_for_selector(f"#guests-list li[data-user-id='{outsider.id}']", timeout=UI_TIMEOUT_MS)
    screenshot(host, "private-space-host.png")
    response = stranger.reload()
    assert response is not None and response.status == 200
    stranger.wait_for_selector("#private-badge:not([hidden])", timeout=UI_TIMEOUT_MS)
    wait_playing(stranger, 1.0, PLAY_TIMEOUT_MS, "the new guest's player")

    assert httpx.get(f"{base}/hls/{space_id}/live.m3u8").status_code == 403
    ended = host_user.client.post(f"/api/spaces/{space_id}/end")
    assert ended.status_code == 200, ended.text
