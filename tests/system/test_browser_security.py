"""Security findings that only a real browser shows (issue "Hardening, round two"):
after signing in, `?next=` never takes a person to another site, however the path is
dressed up (the review landed on another host with `/\\host`, `/%09/host`, `/%5Chost`);
and the pages run under a Content-Security-Policy without breaking (no violation)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from townhall.testing.servers import Server
from tests.system.test_browser import browser, new_page, unique_name  # noqa: F401

pytestmark = pytest.mark.browser

# `?next=` as the reviewer typed it into the address bar (the page decodes it once).
ELSEWHERE = ["/\\evil.example/steal", "/%09/evil.example/steal", "/%5Cevil.example/steal",
             "//evil.example/steal", "/%2F/evil.example/steal", "https://evil.example/steal",
             quote("/\t/evil.example/steal", safe=""), "javascript:alert(1)"]


def test_signing_in_never_sends_a_person_to_another_site(server: Server, browser) -> None:  # noqa: F811
    base = server.base_url.rstrip("/")
    page = new_page(browser, "signin")
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text)
            if "Content Security Policy" in m.text else None)
    username = unique_name("nextuser")
    page.goto(f"{base}/signup")
    page.fill("#username", username)
    page.fill("#password", "correct horse battery")
    page.click("#auth-submit")
    page.wait_for_url(f"{base}/")

    for target in ELSEWHERE:
        page.goto(f"{base}/signin?next={target}")
        page.fill("#username", username)
        page.fill("#password", "correct horse battery")
        page.click("#auth-submit")
        page.wait_for_url(f"{base}/", timeout=15_000)  # home, the fallback
        assert page.url == f"{base}/", (target, page.url)

    # A page of this site is still where sign-in leads.
    page.goto(f"{base}/signin?next={quote('/signup?from=x#top', safe='')}")
    page.fill("#username", username)
    page.fill("#password", "correct horse battery")
    page.click("#auth-submit")
    page.wait_for_url(f"{base}/signup?from=x#top", timeout=15_000)
    assert violations == []
