"""Web Push in a real browser (Debian's Chromium, headless, through Playwright).

What this can check on this machine: the settings page draws "Notifications in this
browser"; the service worker (/sw.js) registers and `navigator.serviceWorker.ready`
resolves with the site root as its scope; with notifications allowed, turning the
switch on asks the browser to subscribe, and the subscription fails here: Playwright's
browser contexts are off the record, where Chromium has no Push API at all ("Chrome
currently does not support the Push API in incognito mode", in the console), and this
machine has no internet to reach Google's push service anyway. The test checks that the
page then says so in words (with the browser's own reason) and leaves the switch off,
instead of failing silently; if a Chromium somewhere does subscribe, it checks the server
got the subscription instead. With notifications not allowed the page says they are
blocked or need permission. The service worker's push handler is driven through the DevTools
protocol (ServiceWorker.deliverPushMessage, the message the browser would hand it after
decrypting): it shows the notification with the push's title, body and the Space's URL.
Screenshots at 1280x900 and 390x844 go to test-artifacts/; axe-core finds nothing
serious or critical.

What it cannot check offline: a real subscription with Google's push service (FCM), its
endpoint, and a push travelling through it. Encryption, the VAPID JWT and the server's
side of a push are checked against a local push service in tests/http/test_webpush.py.
"""

from __future__ import annotations

import json

import pytest

from townhall.testing.browser import axe_violations, describe_violations
from townhall.testing.waiting import wait_until
from tests.system.test_browser import browser, new_page, screenshot, unique_name, wait_js  # noqa: F401

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
UI_MS = 15_000
# push.js gives the browser's push service 20 s to answer a subscribe.
SUBSCRIBE_MS = 30_000


def sign_up(page, base: str) -> None:
    page.goto(f"{base}/signup")
    page.fill("#username", unique_name("pusher"))
    page.fill("#password", "correct horse battery")
    page.click("#auth-submit")
    page.wait_for_url(f"{base}/")


def open_push_settings(page, base: str) -> None:
    page.goto(f"{base}/settings")
    page.wait_for_selector("#push-card[data-ready='true']:not([hidden])", timeout=UI_MS)
    assert page.text_content("#push-card h2") == "Notifications in this browser"


def test_the_push_switch_registers_the_worker_and_says_why_it_cannot_subscribe(
        server, browser) -> None:  # noqa: F811
    base = server.base_url.rstrip("/")
    page = new_page(browser, "push", viewport=DESKTOP, permissions=["notifications"])
    sign_up(page, base)
    open_push_settings(page, base)
    scope = page.evaluate("() => navigator.serviceWorker.ready.then((r) => r.scope)")
    assert scope == f"{base}/"
    assert not page.is_checked("#push-on") and page.is_enabled("#push-on")

    page.click("#push-on")
    wait_js(page, "() => !document.getElementById('push-on').disabled", SUBSCRIBE_MS,
            what="the subscribe attempt to end")
    subscribed = page.evaluate("""async () => {
        const r = await navigator.serviceWorker.ready;
        return Boolean(await r.pushManager.getSubscription());
    }""")
    if subscribed:  # a machine whose Chromium reaches its push service
        assert page.is_checked("#push-on")
        listed = page.evaluate("() => fetch('/api/me/push-subscriptions').then(r => r.json())")
        assert len(listed["subscriptions"]) == 1
    else:  # here: no push service to reach, and the page says so
        assert not page.is_checked("#push-on")
        assert page.is_visible("#push-problem")
        assert "could not subscribe with its push service" in page.text_content("#push-problem")
        listed = page.evaluate("() => fetch('/api/me/push-subscriptions').then(r => r.json())")
        assert listed["subscriptions"] == []
    screenshot(page, "push-settings-desktop.png")
    violations = axe_violations(page)
    assert not violations, describe_violations(violations)

    # The worker's push handler: a push as the browser hands it over, once decrypted.
    cdp = page.context.new_cdp_session(page)
    registrations: dict[str, str] = {}
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda event: registrations.update(
        {r["scopeURL"]: r["registrationId"] for r in event["registrations"]
         if not r["isDeleted"]}))
    cdp.send("ServiceWorker.enable")
    # Protocol events are handled while Playwright talks to the browser: ask it something.
    registration = wait_until(lambda: page.evaluate("1") and registrations.get(f"{base}/"),
                              "the worker's registration id", timeout=UI_MS / 1000)
    message = {"title": "Ada Lovelace is live: Engines of thought", "body": "Tap to listen live.",
               "url": f"{base}/s/abc123", "kind": "live"}
    cdp.send("ServiceWorker.deliverPushMessage", {
        "origin": base, "registrationId": registration,
        "data": json.dumps(message)})
    # Polled from here: an async function's promise is truthy at once, so a
    # wait-for-function on it never waited (CI K read null before the worker showed it).
    shown = wait_until(lambda: page.evaluate("""async () => {
        const r = await navigator.serviceWorker.ready;
        const [n] = await r.getNotifications();
        return n ? {title: n.title, body: n.body, url: n.data.url} : null;
    }"""), "the notification the worker shows", timeout=UI_MS / 1000)
    assert shown == {"title": message["title"], "body": message["body"],
                     "url": message["url"]}

    page.set_viewport_size(PHONE)
    screenshot(page, "push-settings-phone.png")
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    violations = axe_violations(page)
    assert not violations, describe_violations(violations)
    page.context.close()


def test_without_permission_the_page_says_notifications_are_blocked(
        server, browser) -> None:  # noqa: F811
    base = server.base_url.rstrip("/")
    page = new_page(browser, "nopush", viewport=PHONE)
    sign_up(page, base)
    page.context.clear_permissions()
    open_push_settings(page, base)
    if page.is_disabled("#push-on"):  # the browser reports "denied" up front
        assert "blocked" in page.text_content("#push-problem")
    else:  # asked, and headless Chromium answers no (there is nobody to click Allow)
        page.click("#push-on")
        page.wait_for_selector("#push-problem:not([hidden])", timeout=UI_MS)
        assert "Allow" in page.text_content("#push-problem")
        assert not page.is_checked("#push-on")
    screenshot(page, "push-settings-blocked-phone.png")
    violations = axe_violations(page)
    assert not violations, describe_violations(violations)
    page.context.close()
