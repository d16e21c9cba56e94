"""Operator moderation in a real browser: a listener reports someone from their profile
(the reasons come from the server; leaving the reason out is refused under the input);
an operator (made with `townhall operator add` against the server's database) opens
/operator, finds the report and suspends the account with a reason and a private note;
the suspended person's pages show why and until when, with an appeal form, and hosting
is refused with that sentence; they appeal; the operator grants it from the console;
the person's notice is gone. /transparency shows the suspension and the reinstatement
that answers it, newest first, with the chain's head. Screenshots at 1280x900 and
390x844 go to test-artifacts/; axe-core finds nothing serious or critical."""

from __future__ import annotations

import httpx
import pytest

from townhall.cli import main as cli
from townhall.testing.browser import axe_violations, describe_violations
from tests.system.test_browser import browser, new_page, screenshot, unique_name  # noqa: F401

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
UI_MS = 15_000
PASSWORD = "correct horse battery"


def sign_up(page, base: str, prefix: str) -> str:  # type: ignore[no-untyped-def]
    name = unique_name(prefix)
    page.goto(f"{base}/signup")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("#auth-submit")
    page.wait_for_url(f"{base}/")
    return name


def no_serious_violations(page) -> None:  # type: ignore[no-untyped-def]
    violations = axe_violations(page)
    assert not violations, describe_violations(violations)


def test_report_suspend_appeal_reinstate(server, browser) -> None:  # noqa: F811
    base = server.base_url.rstrip("/")
    person = new_page(browser, "person", viewport=DESKTOP)
    person_name = sign_up(person, base, "loud")
    reporter = new_page(browser, "reporter", viewport=DESKTOP)
    sign_up(reporter, base, "witness")
    operator = new_page(browser, "operator", viewport=DESKTOP)
    operator_name = sign_up(operator, base, "op")
    with pytest.raises(SystemExit) as made:
        cli(["operator", "add", operator_name, "--data-dir", str(server.data_dir)])
    assert made.value.code == 0

    # The report, from the person's profile.
    reporter.goto(f"{base}/u/{person_name}")
    reporter.click("#report-button:not([hidden])", timeout=UI_MS)
    reporter.wait_for_selector("#report-dialog[open]")
    reporter.click("#report-submit")  # no reason chosen: the server says so, under it
    reporter.wait_for_selector("#report-reason[aria-invalid='true']", timeout=UI_MS)
    reporter.select_option("#report-reason", "harassment")
    reporter.fill("#report-note", "Shouted slurs at a speaker")
    reporter.click("#report-submit")
    reporter.wait_for_selector("#report-done", timeout=UI_MS)
    screenshot(reporter, "moderation-report-desktop.png")
    no_serious_violations(reporter)

    # The operator suspends the account from the queue.
    operator.goto(f"{base}/operator")
    operator.wait_for_selector("#operator-link", timeout=UI_MS)
    item = operator.locator(".console-item", has_text=f"@{person_name}").first
    item.wait_for(timeout=UI_MS)
    assert "Shouted slurs at a speaker" in item.text_content()
    assert item.locator("select[name=reason]").input_value() == "harassment"
    item.locator("input[name=days]").fill("7")
    item.locator("textarea[name=note]").fill("checked the recording at 12:04")
    screenshot(operator, "moderation-console-desktop.png")
    no_serious_violations(operator)
    item.locator("button[type=submit]").click()
    operator.wait_for_selector("#console-status:has-text('It is on the log')", timeout=UI_MS)

    # The person sees why, and hosting is refused in those words.
    person.goto(f"{base}/")
    banner = person.wait_for_selector("#suspension-banner", timeout=UI_MS)
    assert "Harassment or bullying" in banner.text_content()
    assert "until" in banner.text_content()
    refused = person.evaluate("""async () => {
        const r = await fetch('/api/spaces', {method: 'POST', headers: {'Content-Type':
          'application/json'}, body: JSON.stringify({title: 'Back again'})});
        return [r.status, (await r.json()).code]; }""")
    assert refused == [403, "suspended"]
    screenshot(person, "moderation-suspended-desktop.png")
    no_serious_violations(person)
    person.set_viewport_size(PHONE)
    screenshot(person, "moderation-suspended-phone.png")
    no_serious_violations(person)
    person.set_viewport_size(DESKTOP)

    # They appeal, once.
    person.fill("#suspension-banner textarea", "I was quoting the other speaker to object.")
    person.click("#suspension-banner button[type=submit]")
    person.wait_for_selector("#suspension-banner:has-text('waiting for an operator')",
                             timeout=UI_MS)
    assert person.locator("#suspension-banner textarea").count() == 0

    # The operator grants it; the person's notice is gone.
    operator.goto(f"{base}/operator")
    appeal = operator.locator(".console-item", has_text="I was quoting the other speaker").first
    appeal.wait_for(timeout=UI_MS)
    appeal.locator("textarea[name=reply]").fill("The recording bears you out.")
    operator.set_viewport_size(PHONE)
    screenshot(operator, "moderation-console-phone.png")
    no_serious_violations(operator)
    appeal.locator("button", has_text="Grant").click()
    operator.wait_for_selector("#console-status:has-text('Appeal granted')", timeout=UI_MS)
    person.goto(f"{base}/standing")
    person.wait_for_selector("#standing :text('Your appeal was granted.')", timeout=UI_MS)
    assert "The recording bears you out." in person.text_content("#standing")
    person.goto(f"{base}/")
    person.wait_for_selector("#signed-in-as", timeout=UI_MS)
    assert person.locator("#suspension-banner").count() == 0

    # The public log, read by anyone: both actions, the answer linked, the head shown.
    log = httpx.get(f"{base}/api/transparency").json()
    ours = [e for e in log["entries"] if e["target"] == person_name]
    assert [e["action"] for e in ours] == ["reinstate", "suspend"]
    assert ours[1]["outcome"] == ours[0]["seq"] and ours[0]["answers"] == ours[1]["seq"]
    public = new_page(browser, "public", viewport=DESKTOP)
    public.goto(f"{base}/transparency")
    public.wait_for_selector(f"#entry-{ours[0]['seq']}", timeout=UI_MS)
    rows = public.locator("#log-rows tr")
    assert "Account reinstated" in public.text_content(f"#entry-{ours[0]['seq']}")
    assert "Account suspended" in public.text_content(f"#entry-{ours[1]['seq']}")
    assert rows.first.get_attribute("id") == f"entry-{log['entries'][0]['seq']}"  # newest first
    assert public.text_content("#head-hash") == log["head"]["hash"]
    assert "checked the recording" not in public.content()  # the private note stays private
    screenshot(public, "moderation-transparency-desktop.png")
    no_serious_violations(public)
    public.set_viewport_size(PHONE)
    screenshot(public, "moderation-transparency-phone.png")
    no_serious_violations(public)
