"""Spaces nobody started, as people see them (issue "The room as people use it", item 4):
on a server whose lifecycle delays are shortened, a "now" Space its host never started
leaves everyone's Upcoming once its start is past the grace, and later its page says it
was cancelled because nobody started it, not that its host cancelled it. Desktop
(1280x900) and phone (390x844) screenshots go to test-artifacts/; axe-core finds no
serious or critical violation."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from townhall.testing.browser import axe_violations, describe_violations
from townhall.testing.servers import MANY_SIGNUPS, Server, signed_in_client, start_server, stop_server
from townhall.testing.waiting import wait_until
from tests.system.test_browser import browser, new_page, screenshot  # noqa: F401

pytestmark = pytest.mark.browser

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
READY_MS = 15_000
EXPIRY = 8.0  # seconds after creation a "now" Space nobody started is cancelled


@pytest.fixture(scope="module")
def quick_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("browser-lifecycle"), command="serve",
                          extra_env={**MANY_SIGNUPS, "TOWNHALL_UPCOMING_GRACE": "1",
                                     "TOWNHALL_NOW_SPACE_EXPIRY": str(EXPIRY),
                                     "TOWNHALL_SWEEP_EVERY": "0.25"})
    yield server
    stop_server(server)
    assert "Traceback" not in server.log(), server.log()[-5000:]


def test_a_space_nobody_started_leaves_upcoming_then_says_why_it_was_cancelled(
        quick_server: Server, browser) -> None:  # noqa: F811
    base = quick_server.base_url
    host = signed_in_client(base, "forgetful")
    title = "Forgotten launch"
    space = host.post("/api/spaces", json={"title": title}).json()
    anonymous = httpx.Client(base_url=base)
    upcoming = lambda: {s["id"] for s in anonymous.get("/api/spaces").json()["upcoming"]}  # noqa: E731

    # Past its start and the grace: nobody is promised it is "starting soon" any more.
    wait_until(lambda: space["id"] not in upcoming(), timeout=15, what="the Space to leave Upcoming")
    for size, viewport in SIZES.items():
        page = new_page(browser, f"home-{size}", viewport=viewport)
        page.goto(f"{base}/")
        page.wait_for_function("() => ![...document.querySelectorAll('.space-list')]"
                               ".some((l) => l.textContent.includes('Loading'))",
                               timeout=READY_MS, polling=200)
        assert title not in page.inner_text("main")
        page.context.close()

    # Nobody started it: cancelled, and its page says why.
    wait_until(lambda: anonymous.get(f"/api/spaces/{space['id']}").json()["state"] == "cancelled",
               timeout=EXPIRY + 15, what="the Space to expire")
    for size, viewport in SIZES.items():
        page = new_page(browser, f"expired-{size}", viewport=viewport)
        page.goto(f"{base}/s/{space['id']}")
        page.wait_for_selector("#cancelled-card", state="visible", timeout=READY_MS)
        assert "Nobody started it" in page.inner_text("#cancelled-card")
        assert "The host cancelled it" not in page.inner_text("#cancelled-card")
        assert page.is_hidden("#soon-card")
        screenshot(page, f"space-expired-{size}.png")
        violations = axe_violations(page)
        assert not violations, describe_violations(violations)
        page.context.close()
    anonymous.close()
    host.close()
