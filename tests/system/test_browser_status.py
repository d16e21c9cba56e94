"""A Space's public status page (the incident timeline) in a real browser: a Space with
some listeners' requests, once ended, shows minutes counted with their verdict in words
(as the API gives them), a plot,
a table that scrolls inside its card on a phone, and the rules written out; anyone can
open it (no sign-in). Screenshots at 1280x900 and 390x844 in test-artifacts/; axe-core
finds nothing serious or critical."""

from __future__ import annotations

import httpx
import pytest

from townhall.testing.browser import axe_violations, describe_violations
from townhall.testing.servers import live_space, signed_in_client
from townhall.testing.waiting import wait_until
from tests.system.test_browser import browser, new_page, screenshot  # noqa: F401

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
UI_MS = 15_000


def test_the_status_page_shows_counted_minutes_and_the_rules(server, browser) -> None:  # noqa: F811
    base = server.base_url.rstrip("/")
    host = signed_in_client(base, "statushost")
    space = live_space(host, "Counted in the open")
    # Some listeners' requests about the Space: the live playlist, as players ask for it.
    with httpx.Client(base_url=base, timeout=20) as listener:
        for _ in range(5):
            assert listener.get(f"/hls/{space['id']}/live.m3u8").status_code == 200

    def counted() -> int:
        minutes = httpx.get(f"{base}/api/spaces/{space['id']}/timeline").json()["minutes"]
        return sum(m["requests"] for m in minutes)

    wait_until(lambda: counted() >= 5, "the listeners' requests counted", timeout=10)

    before = counted()
    for _ in range(3):  # reading the evidence does not change it
        assert httpx.get(f"{base}/api/spaces/{space['id']}/timeline").status_code == 200
    assert counted() == before

    # Ended: the timeline is final (a live minute's verdict may still change while the
    # page and this test read it).
    assert host.post(f"/api/spaces/{space['id']}/end").status_code == 200

    page = new_page(browser, "status", viewport=DESKTOP)
    page.goto(f"{base}/s/{space['id']}/status")
    page.wait_for_selector("#timeline-table tbody tr", timeout=UI_MS)
    # The page says what the server judged (on a busy machine a minute may honestly be
    # "overloaded": the mixer ran late), in words.
    page.wait_for_selector("#status-updated:has-text('off air')", timeout=UI_MS)
    first = httpx.get(f"{base}/api/spaces/{space['id']}/timeline").json()["minutes"][0]
    word = first["verdict"].replace("_", " ")
    summary = page.text_content("#status-summary")
    assert "counted" in summary and word in summary, summary
    verdict = page.text_content("#timeline-table tbody tr:first-child td:nth-child(2)")
    assert verdict == word
    assert first["rule"] in page.text_content("#timeline-table tbody tr:first-child td.why")
    assert page.locator("#timeline-chart rect").count() >= 1  # the plot has its bars
    assert page.locator("#rules li").count() >= 4  # every verdict's rule, in words
    assert page.get_attribute("#status-back", "href") == f"/s/{space['id']}"
    screenshot(page, "status-desktop.png")
    violations = axe_violations(page)
    assert not violations, describe_violations(violations)

    page.set_viewport_size(PHONE)
    page.reload()
    page.wait_for_selector("#timeline-table tbody tr", timeout=UI_MS)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "status-phone.png")
    violations = axe_violations(page)
    assert not violations, describe_violations(violations)
    host.close()
