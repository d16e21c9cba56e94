"""Every kind of page, as a person sees it: at desktop (1280x900) and phone (390x844)
sizes, each is screenshotted into test-artifacts/ and checked with axe-core (npm) for
serious or critical accessibility violations. And the errors a person can cause read in
plain words next to the input or control that caused them, not in a banner at the top.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest

from townhall import limits
from townhall.http.common.deps import SESSION_COOKIE
from townhall.testing.browser import axe_violations, describe_violations
from townhall.testing.servers import Server, live_space, signed_in_client
from tests.system.test_browser import browser, new_page, screenshot, unique_name  # noqa: F401

pytestmark = pytest.mark.browser

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
READY_MS = 15_000
PASSWORD = "correct horse"


@dataclass
class Person:
    """A signed-up account: its API client, and its session for browser contexts."""

    client: httpx.Client
    username: str
    id: int

    @classmethod
    def sign_up(cls, server: Server, prefix: str) -> Person:
        client = signed_in_client(server.base_url, prefix)
        me = client.get("/api/me").json()
        return cls(client, me["username"], me["id"])

    def page(self, browser, server: Server, name: str, viewport: dict):  # noqa: F811
        page = new_page(browser, name, viewport=viewport)
        host = urlsplit(server.base_url).hostname
        page.context.add_cookies([{"name": SESSION_COOKIE, "domain": host, "path": "/",
                                   "value": self.client.cookies[SESSION_COOKIE]}])
        return page


@pytest.fixture
def people(server: Server) -> Iterator[dict[str, object]]:
    """A host with a live Space (and an invite link into it), a private Space, and a
    listener; the Spaces end (their mixers stop) after the test."""
    host = Person.sign_up(server, "pages_host")
    listener = Person.sign_up(server, "pages_fan")
    live = live_space(host.client, "Page check: live")
    invite = host.client.post(f"/api/spaces/{live['id']}/invites")
    assert invite.status_code == 201, invite.text
    private = host.client.post("/api/spaces", json={"title": "Page check: private", "private": True})
    assert private.status_code == 201, private.text
    try:
        yield {"host": host, "listener": listener, "live": live, "code": invite.json()["code"],
               "private": private.json()}
    finally:
        host.client.post(f"/api/spaces/{live['id']}/end")
        host.client.post(f"/api/spaces/{private.json()['id']}/cancel")
        host.client.close()
        listener.client.close()


def settled(selector: str) -> Callable:
    """Ready when `selector` matches a visible element."""
    return lambda page: page.wait_for_selector(selector, state="visible", timeout=READY_MS)


def loaded_lists(page) -> None:
    page.wait_for_function(
        "() => [...document.querySelectorAll('.space-list')].every((l) =>"
        " !l.textContent.includes('Loading'))", timeout=READY_MS, polling=200)


def test_every_page_kind_has_no_serious_accessibility_violations(server: Server, browser,  # noqa: F811
                                                                  people) -> None:
    base = server.base_url.rstrip("/")
    host: Person = people["host"]
    live_id, private_id = people["live"]["id"], people["private"]["id"]

    def home_signed_out(page) -> None:
        settled("#signed-out-links")(page)
        loaded_lists(page)

    def home_signed_in(page) -> None:
        settled("#create")(page)
        loaded_lists(page)

    def space_ready(selector: str) -> Callable:
        def ready(page) -> None:
            page.wait_for_function("() => window.townhallSpace && window.townhallSpace().space",
                                   timeout=READY_MS, polling=200)
            settled(selector)(page)
        return ready

    # (kind, who (None: signed out), path, ready, expected status)
    kinds = [
        ("home-signed-out", None, "/", home_signed_out, 200),
        ("home-signed-in", host, "/", home_signed_in, 200),
        ("sign-up", None, "/signup", settled("#username-hint"), 200),
        ("sign-in", None, "/signin", settled("#auth-form"), 200),
        ("profile", None, f"/u/{host.username}",
         lambda p: p.wait_for_function("() => !document.getElementById('profile-summary')"
                                       ".textContent.includes('Loading')", timeout=READY_MS), 200),
        ("space-host", host, f"/s/{live_id}", space_ready("#host-card"), 200),
        ("space-listener", people["listener"], f"/s/{live_id}", space_ready("#player-card"), 200),
        ("invite", None, f"/s/{live_id}/invite/{people['code']}", settled("#invite-signed-out"), 200),
        ("private-space", None, f"/s/{private_id}", settled("#private-card"), 403),
        ("analytics", None, f"/s/{live_id}/analytics",
         lambda p: p.wait_for_function("() => document.getElementById('figure-peak')"
                                       ".textContent !== '–'", timeout=READY_MS), 200),
        ("not-found", None, "/nonsense", settled("#error-home"), 404),
    ]
    found: dict[str, list[dict]] = {}
    for size, viewport in SIZES.items():
        for kind, who, path, ready, status in kinds:
            name = f"{kind}-{size}"
            page = (who.page(browser, server, name, viewport) if who
                    else new_page(browser, name, viewport=viewport))
            try:
                response = page.goto(base + path)
                assert response is not None and response.status == status, (name, response)
                ready(page)
                screenshot(page, f"page-{name}.png")
                if violations := axe_violations(page):
                    found[name] = violations
            finally:
                page.context.close()
    assert not found, "\n".join(f"--- {name}\n{describe_violations(v)}" for name, v in found.items())


def field_error(page, input_selector: str) -> dict:
    """The message shown under an input, and how the input points at it."""
    return page.eval_on_selector(input_selector, """(input) => {
        const ids = (input.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
        const notes = ids.map((id) => document.getElementById(id)).filter(Boolean);
        const error = notes.find((n) => n.classList.contains('field-error'));
        return {invalid: input.getAttribute('aria-invalid'), text: error && error.textContent,
                role: error && error.getAttribute('role'), visible: !!(error && error.offsetParent),
                below: error ? error.getBoundingClientRect().top >= input.getBoundingClientRect().bottom - 1
                             && error.getBoundingClientRect().top - input.getBoundingClientRect().bottom < 40
                             : false,
                banner: !document.getElementById('error').hidden,
                focused: document.activeElement === input,
                name: input.labels && input.labels[0] ? input.labels[0].textContent : null};
    }""")


def wait_field_error(page, input_selector: str) -> dict:
    page.wait_for_function(
        "s => document.querySelector(s).getAttribute('aria-invalid') === 'true'",
        arg=input_selector, timeout=READY_MS, polling=100)
    return field_error(page, input_selector)


def assert_next_to_field(shown: dict, message: str) -> None:
    assert shown["text"] == message, shown
    assert shown["invalid"] == "true" and shown["role"] == "alert", shown
    assert shown["visible"] and shown["below"], shown
    assert not shown["banner"], shown


@pytest.mark.parametrize("size", SIZES)
def test_create_form_errors_show_under_their_fields(server: Server, browser, size: str) -> None:  # noqa: F811
    base = server.base_url.rstrip("/")
    host = Person.sign_up(server, "form_host")
    page = host.page(browser, server, "create-form", SIZES[size])
    try:
        page.goto(f"{base}/")
        page.wait_for_selector("#create:not([hidden])")
        page.click("#create-button")  # no title
        shown = wait_field_error(page, "#create-title")
        assert_next_to_field(shown, "Give your Space a title.")
        assert shown["focused"], shown
        screenshot(page, f"form-error-title-{size}.png")
        assert not (v := axe_violations(page)), describe_violations(v)

        # Typing clears it; the next refusal is about the topic, under the topics input.
        page.fill("#create-title", "Errors in plain words")
        assert field_error(page, "#create-title")["invalid"] is None
        page.fill("#create-topics", "fine, " + "x" * (limits.MAX_TOPIC_LENGTH + 1))
        page.click("#create-button")
        shown = wait_field_error(page, "#create-topics")
        assert_next_to_field(
            shown, f"Each topic can be at most {limits.MAX_TOPIC_LENGTH} characters.")
        assert field_error(page, "#create-title")["invalid"] is None
        # The rule is the server's: the page holds no copy of the topic count either.
        page.fill("#create-topics", "a, b, c, d")
        page.click("#create-button")
        page.wait_for_function("() => document.getElementById('create-topics-error')"
                               "?.textContent.includes('at most')", timeout=READY_MS)
        assert_next_to_field(field_error(page, "#create-topics"),
                             f"A Space can have at most {limits.MAX_TOPICS} topics.")
        assert page.url == f"{base}/"  # nothing was created
    finally:
        page.context.close()
        host.client.close()


def test_sign_up_and_sign_in_errors_show_next_to_the_form(server: Server, browser) -> None:  # noqa: F811
    base = server.base_url.rstrip("/")
    page = new_page(browser, "signup", viewport=SIZES["phone"])
    taken = Person.sign_up(server, "taken")
    try:
        page.goto(f"{base}/signup")
        hint = page.inner_text("#username-hint")
        assert (f"{limits.MIN_USERNAME_LENGTH}–{limits.MAX_USERNAME_LENGTH} letters, digits or "
                "underscores") in hint
        assert "username-hint" in page.get_attribute("#username", "aria-describedby")
        page.fill("#username", "no spaces please")
        page.fill("#password", PASSWORD)
        page.click("#auth-submit")
        shown = wait_field_error(page, "#username")
        assert_next_to_field(
            shown, "A username can only contain letters, digits and underscores (_).")
        # Its name is still its label, the message is its description (next to the hint).
        described = page.get_attribute("#username", "aria-describedby").split()
        assert described == ["username-error", "username-hint"], described
        screenshot(page, "form-error-signup-phone.png")
        assert not (v := axe_violations(page)), describe_violations(v)

        page.fill("#username", taken.username)
        page.click("#auth-submit")
        page.wait_for_function("() => document.getElementById('username-error')?.textContent"
                               ".includes('taken')", timeout=READY_MS)
        assert_next_to_field(field_error(page, "#username"), "That username is taken: pick another.")

        # A refusal about no one input goes by the button, not in the banner at the top.
        page.goto(f"{base}/signin")
        page.fill("#username", taken.username)
        page.fill("#password", "not the password")
        page.click("#auth-submit")
        page.wait_for_selector("#auth-problem:not([hidden])", timeout=READY_MS)
        assert "wrong username or password" in page.inner_text("#auth-problem")
        assert page.is_hidden("#error")
        box, button = page.locator("#auth-problem").bounding_box(), page.locator("#auth-submit").bounding_box()
        assert abs(box["y"] - button["y"]) < 80, (box, button)
    finally:
        page.context.close()
        taken.client.close()


def test_space_page_forms_show_errors_under_their_inputs(server: Server, browser, people) -> None:  # noqa: F811
    base = server.base_url.rstrip("/")
    page = people["host"].page(browser, server, "host-forms", SIZES["desktop"])
    try:
        page.goto(f"{base}/s/{people['live']['id']}")
        page.wait_for_selector("#host-card:not([hidden])", timeout=READY_MS)
        page.click("#pin-block > summary")  # the host panel's sections start collapsed
        page.fill("#pin-url", "ftp://example.com/notes")
        page.click("#pin-button")
        assert_next_to_field(wait_field_error(page, "#pin-url"),
                             "Links must start with http:// or https://")

        page.click("#person-block > summary")
        page.fill("#person-username", "nobody_by_this_name")
        page.click("#invite-user-button")
        assert_next_to_field(wait_field_error(page, "#person-username"),
                             "Nobody is called @nobody_by_this_name: check the spelling.")
        screenshot(page, "form-error-space-host-desktop.png")
        assert not (v := axe_violations(page)), describe_violations(v)
    finally:
        page.context.close()


def test_no_such_space_is_a_page_that_says_so(server: Server, browser) -> None:  # noqa: F811
    base = server.base_url.rstrip("/")
    page = new_page(browser, "no-such-space", viewport=SIZES["phone"])
    try:
        response = page.goto(f"{base}/s/doesnotexist")
        assert response.status == 404
        page.wait_for_selector("#error-home")
        assert page.inner_text("h1") == "No such Space"
        assert "Loading" not in page.inner_text("main")
        assert page.get_attribute("#error-home", "href") == "/"
        screenshot(page, "page-no-such-space-phone.png")
    finally:
        page.context.close()
