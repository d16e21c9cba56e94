"""The Space page as a room, in real browsers: a host (on stage from Chromium), a speaker
(on stage, on a phone), two signed-in listeners and an anonymous one.

The speakers are a grid of faces (their avatars load); who is listening is a roster of
the signed-in listeners' faces, the anonymous one counted; tapping a face opens a sheet
with exactly the actions the server offers on that person (the host's sheet for the
speaker mutes them: a muted badge shows on every page; a listener's sheet has no
moderation at all; the host's sheet for a listener invites them to speak). End Space is
in the first screen at 1280x900 and 390x844. Reactions rise over the speakers' card,
inside the content column. Screenshots of the host's, the speaker's and a listener's
views at both sizes go to test-artifacts/; axe-core finds nothing serious on them.
"""

from __future__ import annotations

import pytest

from townhall.testing.browser import axe_violations, describe_violations
from tests.system.test_browser import (  # noqa: F401
    CONNECT_TIMEOUT_MS,
    PLAY_TIMEOUT_MS,
    browser,
    new_page,
    screenshot,
    wait_js,
    wait_playing,
)
from tests.system.test_browser_spaces import Person

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PHONE_CONTEXT = {"viewport": PHONE, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
UI_MS = 15_000
# The roster is asked for at most every beacon interval (10 s): a listener who starts
# playing appears within two of them.
ROSTER_MS = 30_000
# A `can` entry -> the data-act of its button (space-people.js BUTTONS).
ACTS = {"invite": "invite", "approve_hand": "approve", "decline_hand": "decline", "mute": "mute",
        "add_cohost": "cohost", "remove_cohost": "uncohost", "remove_guest": "unlisten",
        "remove": "remove", "block": "block"}
FACE_LOADED = ("sel => { const i = document.querySelector(sel);"
               " return i && i.complete && i.naturalWidth > 0; }")


def face(user_id: int, where: str = "#speakers") -> str:
    return f"{where} li[data-user-id='{user_id}']"


def sheet_acts(page) -> set[str]:  # type: ignore[no-untyped-def]
    return set(page.eval_on_selector_all("#sheet-actions button", "bs => bs.map(b => b.dataset.act)"))


def open_sheet(page, selector: str) -> None:  # type: ignore[no-untyped-def]
    page.click(f"{selector} button[data-sheet]")
    page.wait_for_selector("#person-sheet[open]", timeout=UI_MS)


def close_sheet(page) -> None:  # type: ignore[no-untyped-def]
    page.click("#sheet-close")
    page.wait_for_selector("#person-sheet:not([open])", state="attached", timeout=UI_MS)


def end_in_first_screen(page, size: dict) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size(size)
    page.evaluate("() => window.scrollTo(0, 0)")
    box = page.locator("#end-button").bounding_box()
    assert box is not None, "End Space is not shown"
    assert box["y"] >= 0 and box["y"] + box["height"] < size["height"], (size, box)


def both_sizes(page, name: str, other: dict) -> None:  # type: ignore[no-untyped-def]
    """Screenshots at the page's own size and the other one (then back), axe on both."""
    own = page.viewport_size
    for size, suffix in ((own, "own"), (other, "other"), (own, None)):
        page.set_viewport_size(size)
        if suffix is None:
            break
        page.evaluate("() => window.scrollTo(0, 0)")
        label = "desktop" if size["width"] == DESKTOP["width"] else "phone"
        screenshot(page, f"room-{name}-{label}.png")
        violations = axe_violations(page)
        assert not violations, f"{name} at {label}: " + describe_violations(violations)


def test_the_room_faces_roster_sheets_and_host_toolbar(server, browser) -> None:  # noqa: F811
    base = server.base_url.rstrip("/")
    host_user, speaker_user, fan1, fan2 = (
        Person(base, prefix) for prefix in ("roomhost", "roomspk", "roomfan", "roomfan"))

    # --- The host goes live from the page, on stage ----------------------------------------
    created = host_user.client.post("/api/spaces", json={
        "title": "The room: faces, roster, sheets", "description": "Who is here, at a glance."})
    assert created.status_code == 201, created.text
    space_id = created.json()["id"]
    url = f"{base}/s/{space_id}"
    host = host_user.open(browser, base, "host", viewport=DESKTOP)
    host.goto(url)
    host.click("#go-live-button")
    wait_js(host, "() => window.townhallPublisher.state === 'connected'", CONNECT_TIMEOUT_MS,
            what="the host's WHIP connection")
    # End Space reachable without scrolling, whatever the panel below holds.
    host.wait_for_selector("#host-toolbar:not([hidden]) #end-button:not([hidden])", timeout=UI_MS)

    # --- A speaker, invited (API), accepts and joins the stage from a phone ---------------
    invited = host_user.client.post(f"/api/spaces/{space_id}/speakers",
                                    json={"username": speaker_user.username})
    assert invited.status_code == 200, invited.text
    accepted = speaker_user.client.post(f"/api/spaces/{space_id}/invitation/accept")
    assert accepted.status_code == 200, accepted.text
    speaker = speaker_user.open(browser, base, "speaker", **PHONE_CONTEXT)
    speaker.goto(url)
    speaker.click("#join-stage-button")
    wait_js(speaker, "() => window.townhallPublisher.state === 'connected'", CONNECT_TIMEOUT_MS,
            what="the speaker's WHIP connection")
    host.wait_for_selector(f"{face(speaker_user.id)}.on-stage", timeout=UI_MS)

    # --- Two signed-in listeners and an anonymous one play it -------------------------------
    listeners = [fan1.open(browser, base, "fan1", viewport=DESKTOP),
                 fan2.open(browser, base, "fan2", **PHONE_CONTEXT),
                 new_page(browser, "anonymous", **PHONE_CONTEXT)]
    for page in listeners:
        page.goto(url)
    for page, name in zip(listeners, ("fan1", "fan2", "anonymous")):
        wait_playing(page, 0.5, PLAY_TIMEOUT_MS, f"{name}'s live playback")
    listener = listeners[0]

    # --- The grid: faces that loaded, with role labels ---------------------------------------
    for page in (host, listener):
        for user, role in ((host_user, "Host"), (speaker_user, "Speaker")):
            wait_js(page, FACE_LOADED, UI_MS, arg=f"{face(user.id)} img.face-img",
                    what=f"{user.username}'s face")
            assert role in page.inner_text(f"{face(user.id)} .face-role")
    assert host.get_attribute(f"{face(host_user.id)} img.face-img", "src").startswith("/avatars/")

    # --- The roster: both signed-in listeners by face, the anonymous one counted ------------
    for page in (host, listener):
        for fan in (fan1, fan2):
            page.wait_for_selector(face(fan.id, "#roster-faces"), timeout=ROSTER_MS)
            wait_js(page, FACE_LOADED, UI_MS, arg=f"{face(fan.id, '#roster-faces')} img",
                    what=f"{fan.username}'s face in the roster")
        wait_js(page, "() => /1 not signed in/.test(document.getElementById('roster-more').textContent)",
                ROSTER_MS, what="the anonymous listener counted")
        # Speakers are on stage, not in the roster.
        assert page.query_selector(face(speaker_user.id, "#roster-faces")) is None
        assert page.query_selector(face(host_user.id, "#roster-faces")) is None

    # --- The host taps the speaker's face: exactly the server's actions; mutes them ---------
    offered = next(s for s in host_user.client.get(f"/api/spaces/{space_id}").json()["speakers"]
                   if s["id"] == speaker_user.id)["can"]
    assert "mute" in offered
    open_sheet(host, face(speaker_user.id))
    assert sheet_acts(host) == {ACTS[c] for c in offered}
    assert speaker_user.username in host.inner_text("#person-sheet")
    screenshot(host, "room-host-sheet-desktop.png")
    violations = axe_violations(host)
    assert not violations, "host's sheet: " + describe_violations(violations)
    host.click("#sheet-actions button[data-act='mute']")
    host.wait_for_selector("#person-sheet:not([open])", state="attached", timeout=UI_MS)
    for page in (host, listener, speaker):
        page.wait_for_selector(f"{face(speaker_user.id)}.muted .muted-tag", timeout=UI_MS)
    speaker.wait_for_selector("#mute-button:has-text('Unmute')", timeout=UI_MS)

    # --- A listener taps faces: who they are, no moderation at all ---------------------------
    for selector in (face(host_user.id), face(speaker_user.id), face(fan2.id, "#roster-faces")):
        open_sheet(listener, selector)
        assert sheet_acts(listener) == set(), selector
        assert listener.is_hidden("#sheet-actions")
        close_sheet(listener)
    assert listener.is_hidden("#host-toolbar") and listener.is_hidden("#host-card")

    # --- The host taps a listener in the roster: the server's actions; invites them --------
    roster = host_user.client.get(f"/api/spaces/{space_id}/listeners").json()
    fan2_can = next(p for p in roster["people"] if p["id"] == fan2.id)["can"]
    assert {"invite", "remove", "block"} <= set(fan2_can)
    open_sheet(host, face(fan2.id, "#roster-faces"))
    assert sheet_acts(host) == {ACTS[c] for c in fan2_can}
    host.click("#sheet-actions button[data-act='invite']")
    host.wait_for_selector("#person-sheet:not([open])", state="attached", timeout=UI_MS)
    listeners[1].wait_for_selector("#accept-invitation-button:not([hidden])", timeout=UI_MS)

    # --- Reactions rise over the speakers' card, inside the content column -------------------
    listener.click("#reaction-bar button.reaction >> nth=0")
    host.wait_for_selector("#speakers-card #reaction-overlay .floating-reaction", timeout=UI_MS)
    card = host.locator("#speakers-card").bounding_box()
    overlay = host.locator("#reaction-overlay").bounding_box()
    assert card and overlay
    assert overlay["x"] >= card["x"] - 1 and overlay["x"] + overlay["width"] <= card["x"] + card["width"] + 1
    column = host.locator("#space").bounding_box()
    assert column and overlay["x"] + overlay["width"] <= column["x"] + column["width"] + 1

    # --- End Space in the first screen, on a laptop and on a phone ---------------------------
    end_in_first_screen(host, DESKTOP)
    end_in_first_screen(host, PHONE)
    host.set_viewport_size(DESKTOP)

    # --- Screenshots of every view at both sizes; axe-core on each -----------------------------
    both_sizes(host, "host", PHONE)
    both_sizes(speaker, "speaker", DESKTOP)
    both_sizes(listener, "listener", PHONE)
    both_sizes(listeners[2], "anonymous", DESKTOP)

    ended = host_user.client.post(f"/api/spaces/{space_id}/end")
    assert ended.status_code == 200, ended.text
