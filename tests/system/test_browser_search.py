"""Search in a real browser: a person types words into the header's search box, sees
the Spaces found as cards with the words marked (and text that looks like HTML shown as
text), opens one; the People tab finds a host by display name. Screenshots at 1280x900
and 390x844 go to test-artifacts/; axe-core finds nothing serious on either."""

from __future__ import annotations

import uuid

import pytest

from townhall.testing.browser import axe_violations, describe_violations
from townhall.testing.servers import signed_in_client
from tests.system.test_browser import browser, new_page, screenshot, wait_js  # noqa: F401

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
UI_MS = 15_000


def test_a_person_searches_and_opens_a_space(server, browser) -> None:  # noqa: F811
    base = server.base_url.rstrip("/")
    w = f"harbor{uuid.uuid4().hex[:6]}"
    host = signed_in_client(server.base_url, "captain")
    try:
        username = host.get("/api/me").json()["username"]
        host.patch(f"/api/users/{username}", json={"display_name": f"Captain {w.title()}"})
        made = [host.post("/api/spaces", json=body).json() for body in (
            {"title": f"Night shift at the {w}", "topics": ["boats", "night"],
             "description": f"Stories from the {w}: cranes, tugs and fog horns until dawn."},
            {"title": "Fog horns <b>& friends</b>", "topics": [w],
             "description": "A live session."},
        )]
        assert host.post(f"/api/spaces/{made[0]['id']}/live").status_code == 200

        page = new_page(browser, "seeker", viewport=DESKTOP)
        page.goto(f"{base}/")
        page.wait_for_selector("#signin-link", timeout=UI_MS)
        screenshot(page, "search-header-desktop.png")
        page.fill(".site-search input[name=q]", w[:-2])  # a beginning of the word is enough
        page.press(".site-search input[name=q]", "Enter")
        page.wait_for_url(f"{base}/search?q=*")
        page.wait_for_selector(".search-hit", timeout=UI_MS)
        wait_js(page, "() => document.querySelectorAll('.search-hit').length === 2", UI_MS,
                what="both Spaces")
        titles = page.eval_on_selector_all(".search-hit .space-title", "els => els.map(e => e.textContent)")
        # Both (their order is the rank's: tests/store, tests/http); the "HTML" as text.
        assert sorted(titles) == ["Fog horns <b>& friends</b>", f"Night shift at the {w}"], titles
        marks = page.eval_on_selector_all(".search-hit mark", "els => els.map(e => e.textContent)")
        assert marks and all(m.lower() == w for m in marks), marks
        assert page.locator(".search-hit b").count() == 0  # user text never became HTML
        assert page.get_attribute(".search-hit .search-face", "src").startswith("/avatars/")
        assert page.input_value("#search-q") == w[:-2]
        wait_js(page, "() => [...document.querySelectorAll('.search-face')].every("
                      "i => i.complete && i.naturalWidth > 0)", UI_MS, what="the hosts' faces")
        screenshot(page, "search-spaces-desktop.png")
        violations = axe_violations(page)
        assert not violations, describe_violations(violations)

        # Nothing found: says so.
        page.fill("#search-q", f"{w} nothingatall")
        page.click("#search-submit")
        page.wait_for_selector("#search-status:has-text('No Spaces found')", timeout=UI_MS)

        # People: the host, by display name.
        page.goto(f"{base}/search?q={w}&kind=users")
        page.wait_for_selector(".search-person", timeout=UI_MS)
        assert page.get_attribute("#tab-users", "aria-current") == "page"
        assert page.text_content(".search-person .space-title") == f"Captain {w.title()}"
        assert page.get_attribute(".search-person a", "href") == f"/u/{username}"
        screenshot(page, "search-people-desktop.png")

        # A phone: the same search, then one result opened.
        phone = new_page(browser, "phone", viewport=PHONE, device_scale_factor=2,
                         is_mobile=True, has_touch=True)
        phone.goto(f"{base}/")
        phone.wait_for_selector("#signin-link", timeout=UI_MS)
        screenshot(phone, "search-header-phone.png")
        phone.goto(f"{base}/search?q={w}")
        wait_js(phone, "() => document.querySelectorAll('.search-hit').length === 2", UI_MS,
                what="both Spaces on the phone")
        wait_js(phone, "() => [...document.querySelectorAll('.search-face')].every("
                       "i => i.complete && i.naturalWidth > 0)", UI_MS, what="faces")
        assert phone.evaluate("() => document.documentElement.scrollWidth <= innerWidth"), \
            "the results are wider than the phone"
        screenshot(phone, "search-spaces-phone.png")
        violations = axe_violations(phone)
        assert not violations, describe_violations(violations)
        phone.click(f".search-hit[data-space-id='{made[0]['id']}'] .space-link")
        phone.wait_for_url(f"{base}/s/{made[0]['id']}")

        # Signed in on a phone: the header has no room for the box; its button opens the
        # search page, ready to type.
        phone.goto(f"{base}/signup")
        phone.fill("#username", f"s{uuid.uuid4().hex[:8]}")
        phone.fill("#password", "correct horse battery")
        phone.click("#auth-submit")
        phone.wait_for_url(f"{base}/")
        phone.wait_for_selector("#signed-in-as", timeout=UI_MS)
        assert phone.is_hidden(".site-search input")
        screenshot(phone, "search-header-signed-in-phone.png")
        violations = axe_violations(phone)
        assert not violations, describe_violations(violations)
        phone.click(".site-search-go")
        phone.wait_for_url(f"{base}/search?q=")
        wait_js(phone, "() => document.activeElement?.id === 'search-q'", UI_MS,
                what="the search box focused")
        phone.fill("#search-q", w)
        phone.press("#search-q", "Enter")
        wait_js(phone, "() => document.querySelectorAll('.search-hit').length === 2", UI_MS,
                what="both Spaces, searched on the phone")

        # Too long: the reason under the box, not a 500.
        page.goto(f"{base}/search?q={'x' * 150}")
        error = page.wait_for_selector("#search-q-error", timeout=UI_MS)
        assert "at most" in error.text_content()
        screenshot(page, "search-too-long-desktop.png")
    finally:
        host.post(f"/api/spaces/{made[0]['id']}/end")
        host.close()
