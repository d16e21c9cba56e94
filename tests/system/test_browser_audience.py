"""Audience figures in real browsers: two anonymous Chromium players on the demo Space
send beacons while they play, the count rises by two, and the analytics page plots it.

Debian's Chromium (/usr/bin/chromium) driven by Playwright, as in test_browser.py.
"""

from __future__ import annotations

import time

import httpx
import pytest
from tests.system.test_browser import (  # noqa: F401  (browser: the fixture)
    PLAY_TIMEOUT_MS,
    browser,
    new_page,
    screenshot,
    wait_js,
    wait_playing,
)

pytestmark = pytest.mark.browser

COUNT_DEADLINE = 20.0
UI_TIMEOUT_MS = 15_000
DESKTOP = {"viewport": {"width": 1100, "height": 900}}


def audience(base_url: str) -> dict:
    response = httpx.get(f"{base_url}/api/spaces/demo/audience", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_two_players_are_counted_and_plotted(server, browser) -> None:  # noqa: F811
    before = audience(server.base_url)
    assert before["live"] is True
    assert before["beacon_interval"] == 10 and before["concurrent_window"] == 25

    pages = [new_page(browser, f"listener{i}", **DESKTOP) for i in (1, 2)]
    for page in pages:
        page.goto(f"{server.base_url}/s/demo")
    for i, page in enumerate(pages, 1):
        wait_playing(page, 0.5, PLAY_TIMEOUT_MS, f"listener{i}")
    sessions = [page.evaluate("() => window.townhallPlayer.session") for page in pages]
    assert all(isinstance(s, str) and 16 <= len(s) <= 64 for s in sessions), sessions
    assert sessions[0] != sessions[1]
    # The Space page links to the figures for everyone, anonymous listeners included.
    link = pages[0].locator("#analytics-link")
    assert link.is_visible()
    assert link.get_attribute("href") == "/s/demo/analytics"

    # Other tests may be listening too: the count must rise by our two players.
    deadline = time.monotonic() + COUNT_DEADLINE
    while True:
        now = audience(server.base_url)
        if now["concurrent"] >= before["concurrent"] + 2 and now["concurrent"] >= 2:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"concurrent did not rise by 2 in {COUNT_DEADLINE} s: {before} -> {now}")
        time.sleep(0.5)
    assert now["unique"] >= before["unique"] + 2
    assert now["peak"] >= now["concurrent"]

    page = pages[0].context.new_page()
    page.on("pageerror", lambda err: print(f"[analytics pageerror] {err}"))
    page.goto(f"{server.base_url}/s/demo/analytics")
    wait_js(page, "() => document.querySelector('#concurrent-chart polyline')", UI_TIMEOUT_MS,
            what="the concurrent listeners plot")
    wait_js(page, "() => document.querySelector('#joins-chart rect.bar')", UI_TIMEOUT_MS,
            what="the joins per minute bars")
    assert int(page.locator("#figure-concurrent").text_content()) >= 2
    assert int(page.locator("#figure-peak").text_content()) >= 2
    assert int(page.locator("#figure-unique").text_content()) >= 2
    assert page.locator("#how-we-count").is_visible()
    assert page.locator("#raw-figures").get_attribute("href") == "/api/spaces/demo/audience"
    # Axes carry labels and ticks.
    assert page.locator("#concurrent-chart .axis-label").all_text_contents() == ["Time of day", "Listeners"]
    assert page.locator("#concurrent-chart .tick").count() >= 4
    page.wait_for_timeout(300)  # let layout settle before the screenshot
    screenshot(page, "analytics.png")
    for p in pages:
        p.context.close()
