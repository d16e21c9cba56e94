"""The player and the end of a Space in a real browser.

A host goes live from Chromium (440 Hz fake microphone) and a listener on a phone plays
it; the host ends the Space: both pages say "This Space has ended" with its duration,
the listener's audio is not thrown back to 0:00 and no replay starts by itself; Play
replay plays the replay (the tone again). On the demo Space: pause, then resume comes
back to the live edge (not where it paused), volume and mute set the audio element,
the stream's address and the page link (Share without a share sheet) go to the
clipboard, all of it from the keyboard; on a phone the player is a bar docked at the
bottom that hides nothing. A live hls.js listener set back 1 s behind its target plays
faster until it is back within 0.1 s of it. Screenshots at 1280x900 and 390x844 in test-artifacts/;
axe-core finds nothing serious or critical.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from townhall.testing.browser import axe_violations, describe_violations, fetch_playlist
from townhall.testing.servers import MANY_SIGNUPS, Server, start_server, stop_server
from townhall.testing.waiting import wait_until
from tests.system.test_browser import (  # noqa: F401  (browser: the fixture)
    ARTIFACTS,
    AUDIBLE_RMS,
    CONNECT_TIMEOUT_MS,
    PLAY_TIMEOUT_MS,
    browser,
    new_page,
    screenshot,
    sign_up_and_create,
    wait_js,
    wait_playing,
)

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PHONE_OPTIONS = {"viewport": PHONE, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
CLIPBOARD = ["clipboard-read", "clipboard-write"]
UI_MS = 15_000
# A pause this long (in live segments of ~2 s) puts a player that resumed where it
# paused this far behind; back at the live edge it is within RESUMED_LATENCY_S.
PAUSE_SEGMENTS = 5
RESUMED_LATENCY_S = 5.0
# No share sheet here: Share copies the link (Chromium on Linux has none either way).
NO_SHARE_SHEET = "delete Navigator.prototype.share; delete navigator.share;"
AUDIBLE = "min => window.townhallPlayer.level() > min"


def viewport_screenshot(page, name: str) -> None:
    """What the screen shows (a docked bar sits at its bottom; a full-page shot would
    draw it wherever the first screenful ended)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def page_screenshot(page, name: str) -> None:
    """The whole page, from its top (a sticky header drawn where it was scrolled to)."""
    page.evaluate("() => window.scrollTo(0, 0)")
    screenshot(page, name)


def no_serious_violations(page) -> None:
    violations = axe_violations(page)
    assert not violations, describe_violations(violations)


def host_goes_live(browser, base: str, title: str):  # noqa: F811
    """A host signs up in a desktop page, creates a Space and goes live (440 Hz)."""
    host = new_page(browser, "host", viewport=DESKTOP)
    space_id = sign_up_and_create(host, base, title)
    host.goto(f"{base}/s/{space_id}?original_sound=1")
    host.click("#go-live-button")
    wait_js(host, "() => window.townhallPublisher.state === 'connected'", CONNECT_TIMEOUT_MS,
            what="the host on stage")
    return host, space_id


def listening(page, what: str) -> None:
    """The live player plays, and something is heard."""
    wait_js(page, "() => window.townhallPlayer && window.townhallPlayer.kind === 'live'",
            PLAY_TIMEOUT_MS, what=f"{what}: the live player")
    wait_playing(page, 1.0, PLAY_TIMEOUT_MS, what)
    wait_js(page, AUDIBLE, PLAY_TIMEOUT_MS, arg=AUDIBLE_RMS,
            what=f"{what}: audible output")


def audio_state(page) -> dict:
    return page.evaluate(
        """() => ({kind: townhallPlayer.kind, url: townhallPlayer.url,
                   paused: townhallPlayer.audio.paused, ended: townhallPlayer.audio.ended,
                   currentTime: townhallPlayer.audio.currentTime,
                   src: townhallPlayer.audio.getAttribute('src')})"""
    )


def test_the_end_of_a_space_then_its_replay_on_request(server, browser) -> None:  # noqa: F811
    base = server.base_url.rstrip("/")
    host, space_id = host_goes_live(browser, base, "Ending well")

    listener = new_page(browser, "listener", **PHONE_OPTIONS)
    listener.goto(f"{base}/s/{space_id}")
    listening(listener, "the listener")
    listener.wait_for_selector("#player-controls:not([hidden])", timeout=UI_MS)
    assert listener.is_hidden("#ended-card") and listener.is_hidden("#ending-card")
    viewport_screenshot(listener, "player-live-phone.png")

    # --- The host ends it while the listener plays ---------------------------------------
    # Where the live stream ends (seen on the way down, before the page acts on it).
    listener.evaluate("() => document.addEventListener('ended',"
                      " (e) => (window.liveEndedAt = e.target.currentTime), true)")
    before = audio_state(listener)
    assert before["kind"] == "live" and not before["paused"], before
    host.once("dialog", lambda dialog: dialog.accept())
    host.click("#end-button")
    listener.wait_for_selector("#ended-card:not([hidden])", timeout=UI_MS)
    space = httpx.get(f"{base}/api/spaces/{space_id}", timeout=10).json()
    assert space["state"] == "ended" and space["replay_url"], space
    summary = listener.text_content("#ended-summary")
    assert re.match(r"It lasted (\d+ s|\d+ min \d+ s) and ended ", summary), summary
    assert listener.text_content("#ended-heading") == "This Space has ended"
    assert listener.is_hidden("#ended-reason"), "the host ended it: no reason to give"
    wait_js(listener, "() => document.getElementById('space-announcer').textContent"
                      ".startsWith('This Space has ended')", UI_MS,
            what="the end captioned in the live region")
    # Nothing jumped back to 0:00 and no replay was loaded: the live stream plays out
    # its last seconds (the host's last words) and stops at its end.
    now = audio_state(listener)
    assert now["kind"] == "live" and now["currentTime"] >= before["currentTime"], (before, now)
    assert "replay" not in (now["url"] or "") and "replay" not in (now["src"] or ""), now
    wait_js(listener, "() => window.liveEndedAt !== undefined", PLAY_TIMEOUT_MS,
            what="the live stream to play out to its end")
    ended_at = listener.evaluate("() => window.liveEndedAt")
    assert ended_at >= now["currentTime"], (now, ended_at)
    # Then the player lets go of it, and waits: no replay, nothing playing.
    wait_js(listener, "() => townhallPlayer.url === null", UI_MS, what="the finished live player to unload")
    after = audio_state(listener)
    assert after["kind"] is None and after["paused"] and not after["src"], after
    assert listener.is_hidden("#player-bar")
    assert listener.is_visible("#play-replay-button")
    assert listener.is_hidden("#player-controls")
    assert listener.evaluate("() => document.body.classList.contains('player-docked')") is False
    page_screenshot(listener, "player-ended-phone.png")
    no_serious_violations(listener)

    # The host's page too: the card, and no replay playing by itself.
    host.wait_for_selector("#ended-card:not([hidden])", timeout=UI_MS)
    assert host.evaluate("() => townhallPlayer.kind") is None
    assert host.is_visible("#play-replay-button")
    page_screenshot(host, "player-ended-host-desktop.png")
    no_serious_violations(host)

    # --- Play replay: the replay, from its start, with its seek and speed controls --------
    listener.click("#play-replay-button")
    wait_js(listener, "url => townhallPlayer.kind === 'replay' && townhallPlayer.url === url",
            PLAY_TIMEOUT_MS, arg=space["replay_url"], what="the replay to load")
    wait_playing(listener, 1.0, PLAY_TIMEOUT_MS, "replay playback")
    wait_js(listener, AUDIBLE, PLAY_TIMEOUT_MS, arg=AUDIBLE_RMS,
            what="the tone in the replay")
    assert listener.evaluate("() => townhallPlayer.audio.controls") is True
    assert listener.is_hidden("#play-replay-button")
    assert listener.evaluate("() => document.activeElement.id") == "player-audio"
    listener.evaluate("() => { townhallPlayer.audio.playbackRate = 1.5; townhallPlayer.audio.currentTime = 0.5; }")
    wait_js(listener, "() => townhallPlayer.audio.playbackRate === 1.5 && !townhallPlayer.audio.paused",
            UI_MS, what="the replay at 1.5x")
    # The address for another app is the replay's now.
    listener.click("#other-app-button")
    assert listener.input_value("#hls-url") == space["replay_url"]
    viewport_screenshot(listener, "player-replay-phone.png")

    # --- Opened later on the ended Space: the card, nothing loaded until asked ----------
    late = new_page(browser, "late", viewport=DESKTOP)
    late.goto(f"{base}/s/{space_id}")
    late.wait_for_selector("#play-replay-button:not([hidden])", timeout=UI_MS)
    assert late.is_visible("#ended-card")
    assert late.evaluate("() => townhallPlayer.url") is None
    assert late.text_content("#ended-summary") == summary
    page_screenshot(late, "player-ended-desktop.png")
    no_serious_violations(late)
    late.set_viewport_size(PHONE)
    page_screenshot(late, "player-ended-opened-phone.png")


def test_live_player_controls_from_the_keyboard(server, browser) -> None:  # noqa: F811
    base = server.base_url.rstrip("/")
    page = new_page(browser, "listener", viewport=DESKTOP, permissions=CLIPBOARD)
    page.add_init_script(NO_SHARE_SHEET)
    # hls.js: this test reads its live sync point (LL-DASH's pause: test_browser_dash.py).
    page.goto(f"{base}/s/demo?player=hls")
    listening(page, "the demo")
    page.wait_for_selector("#player-controls:not([hidden])", timeout=UI_MS)
    page_screenshot(page, "player-live-desktop.png")
    no_serious_violations(page)
    space = httpx.get(f"{base}/api/spaces/demo", timeout=10).json()

    # --- Tab to Pause; Space pauses it --------------------------------------------------
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "player-toggle":
            break
    else:
        raise AssertionError("Tab never reached the pause button")
    assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") != "none", (
        "the focused pause button shows no focus ring")
    page.keyboard.press("Space")
    wait_js(page, "() => townhallPlayer.audio.paused && townhallPlayer.userPaused", UI_MS,
            what="Space on the pause button to pause")
    assert page.text_content("#player-toggle .text") == "Resume"
    paused_at = page.evaluate("() => townhallPlayer.audio.currentTime")

    # Paused for a while: the live stream moves on by PAUSE_SEGMENTS whole segments.
    with httpx.Client(timeout=15) as client:
        start = fetch_playlist(client, space["hls_url"]).newest_msn
        wait_until(lambda: fetch_playlist(client, space["hls_url"]).newest_msn >= start + PAUSE_SEGMENTS,
                   f"the live stream to move on {PAUSE_SEGMENTS} segments", timeout=60, interval=0.5)
    # Played from where it paused, it would be this far behind real time.
    stale = page.evaluate("() => (Date.now() - townhallPlayer.hls.playingDate.getTime()) / 1000")
    assert stale > 2 * PAUSE_SEGMENTS - 1, stale
    assert page.evaluate("() => townhallPlayer.audio.currentTime") == paused_at

    # --- Enter resumes: at the live edge, not where it paused ---------------------------
    assert page.evaluate("() => document.activeElement.id") == "player-toggle"
    page.keyboard.press("Enter")
    wait_js(page, "() => !townhallPlayer.audio.paused && townhallPlayer.audio.readyState >= 3",
            PLAY_TIMEOUT_MS, what="Enter on the resume button to play again")
    wait_playing(page, 1.0, PLAY_TIMEOUT_MS, "playback after resuming")
    latency = page.evaluate("() => townhallPlayer.latency()")
    edge = page.evaluate("() => townhallPlayer.hls.liveSyncPosition - townhallPlayer.audio.currentTime")
    print(f"paused {stale:.1f} s behind; resumed {latency} s behind, {edge} s from the sync point")
    assert latency is not None and latency < RESUMED_LATENCY_S, (latency, stale)
    assert edge < RESUMED_LATENCY_S, edge
    assert page.text_content("#player-toggle .text") == "Pause"

    # --- Volume (arrow keys on the slider) and mute --------------------------------------
    page.keyboard.press("Tab")  # Mute
    assert page.evaluate("() => document.activeElement.id") == "player-mute"
    page.keyboard.press("Tab")  # Volume
    assert page.evaluate("() => document.activeElement.id") == "player-volume"
    assert page.evaluate("() => document.activeElement.labels[0].textContent.trim()") == "Volume"
    for _ in range(4):
        page.keyboard.press("ArrowLeft")
    assert page.evaluate("() => townhallPlayer.audio.volume") == pytest.approx(0.8)
    assert page.evaluate("() => localStorage.getItem('townhall.volume')") == "0.8"
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    wait_js(page, "() => townhallPlayer.audio.muted", UI_MS, what="Mute to mute")
    assert page.get_attribute("#player-mute", "aria-pressed") == "true"
    page.keyboard.press("Space")
    wait_js(page, "() => !townhallPlayer.audio.muted", UI_MS, what="Mute again to unmute")
    assert page.get_attribute("#player-mute", "aria-pressed") == "false"
    assert page.evaluate("() => townhallPlayer.audio.volume") == pytest.approx(0.8)

    # --- Listen in another app: the stream's address, copied -----------------------------
    assert page.is_hidden("#other-app")
    page.focus("#other-app-button")
    page.keyboard.press("Enter")
    page.wait_for_selector("#other-app:not([hidden])", timeout=UI_MS)
    assert page.get_attribute("#other-app-button", "aria-expanded") == "true"
    assert page.input_value("#hls-url") == space["hls_url"]
    page.click("#copy-hls-button")
    page.wait_for_selector("#copy-hls-status:has-text('Address copied')", timeout=UI_MS)
    assert page.evaluate("() => navigator.clipboard.readText()") == space["hls_url"]

    # --- Share, without a share sheet: the page link, copied -----------------------------
    assert page.evaluate("() => 'share' in navigator") is False
    page.focus("#share-button")
    page.keyboard.press("Enter")
    page.wait_for_selector("#share-status:has-text('Link copied')", timeout=UI_MS)
    assert page.evaluate("() => navigator.clipboard.readText()") == f"{base}/s/demo"
    page_screenshot(page, "player-tools-desktop.png")
    no_serious_violations(page)


# Set back this far behind its target, an hls.js listener plays faster until it is within
# CAUGHT_UP_S of it again. hls.js's own catch-up (maxLiveSyncPlaybackRate) stops while it
# is still 0.3-0.5 s behind: it needs more than 1 s buffered ahead, which a player near
# the 0.77 s target never holds (player.js CATCH_UP). At 5 % faster, 1 s takes 20 s.
SET_BACK_S = 1.0
CAUGHT_UP_S = 0.1
CATCH_UP_MS = 60_000
BEHIND_TARGET = "() => townhallPlayer.hls.latency - townhallPlayer.hls.targetLatency"


def test_a_live_hls_listener_set_back_catches_up_to_its_target(server, browser) -> None:  # noqa: F811
    page = new_page(browser, "catch-up", viewport=DESKTOP)
    page.goto(f"{server.base_url.rstrip('/')}/s/demo?player=hls")
    listening(page, "the demo")
    wait_playing(page, 2.0, PLAY_TIMEOUT_MS, "the demo before the set-back")
    page.evaluate("s => { townhallPlayer.audio.currentTime -= s; }", SET_BACK_S)
    wait_js(page, f"() => ({BEHIND_TARGET})() > {SET_BACK_S / 2}", UI_MS,
            what="the player to be behind its target after the set-back")
    wait_js(page, "() => townhallPlayer.audio.playbackRate > 1", UI_MS,
            what="the player to play faster while behind")
    caught_up = f"() => ({BEHIND_TARGET})() < {CAUGHT_UP_S} && townhallPlayer.audio.playbackRate === 1"
    wait_js(page, caught_up, CATCH_UP_MS,
            what=f"the player back within {CAUGHT_UP_S} s of its target, at normal speed")
    behind = page.evaluate(BEHIND_TARGET)
    print(f"set back {SET_BACK_S} s; caught up to {behind:.3f} s behind its target")
    wait_playing(page, 1.0, PLAY_TIMEOUT_MS, "the demo after catching up")


def test_on_a_phone_the_player_is_a_bar_docked_at_the_bottom(server, browser) -> None:  # noqa: F811
    base = server.base_url.rstrip("/")
    page = new_page(browser, "phone", permissions=CLIPBOARD, **PHONE_OPTIONS)
    page.goto(f"{base}/s/demo")
    listening(page, "the demo on a phone")
    page.wait_for_selector("#player-card[data-docked]", timeout=UI_MS)
    bar = page.evaluate(
        """() => { const bar = document.getElementById('player-bar');
                   const box = bar.getBoundingClientRect();
                   return {position: getComputedStyle(bar).position, top: box.top, bottom: box.bottom,
                           height: box.height, width: box.width, viewport: innerHeight,
                           padding: parseFloat(getComputedStyle(document.querySelector('.main')).paddingBottom)}; }"""
    )
    assert bar["position"] == "fixed", bar
    assert abs(bar["bottom"] - bar["viewport"]) <= 1 and bar["width"] == PHONE["width"], bar
    assert bar["height"] < PHONE["height"] / 4, f"not a compact bar: {bar}"
    assert bar["padding"] >= bar["height"], f"the page leaves no room for the bar: {bar}"
    # Scrolled to the very end, the last of the page stays above the bar.
    page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
    overlap = page.evaluate(
        """() => { const bar = document.getElementById('player-bar').getBoundingClientRect();
                   const cards = [...document.querySelectorAll('#space > .card')]
                       .filter((c) => c.offsetParent !== null);
                   const last = cards[cards.length - 1].getBoundingClientRect();
                   return last.bottom - bar.top; }"""
    )
    assert overlap <= 0, f"the bar covers {overlap:.0f} px of the page"
    # Its buttons work by touch too, and are big enough to hit.
    for button in ("#player-toggle", "#player-mute"):
        box = page.locator(button).bounding_box()
        assert box and box["height"] >= 44 and box["width"] >= 44, (button, box)
    page.tap("#player-toggle")
    wait_js(page, "() => townhallPlayer.audio.paused", UI_MS, what="a tap on Pause")
    assert page.is_visible("#player-toggle"), "the bar must stay while paused"
    page.tap("#player-toggle")
    wait_playing(page, 0.5, PLAY_TIMEOUT_MS, "playback after a tap on Resume")
    viewport_screenshot(page, "player-live-docked-phone-end.png")
    page.evaluate("() => window.scrollTo(0, 0)")
    viewport_screenshot(page, "player-live-docked-phone.png")
    no_serious_violations(page)


# The lifecycle's delays, shortened (townhall/app/lifecycle.py): warned WARNING_S after
# the host left the stage, ended END_S after the warning.
WARNING_S = 1.5
END_S = 12.0
QUICK_LIFECYCLE = {
    **MANY_SIGNUPS,
    "TOWNHALL_HOST_ABSENT_WARNING": str(WARNING_S),
    "TOWNHALL_HOST_ABSENT_END": str(END_S),
    "TOWNHALL_LIFECYCLE_CHECK_EVERY": "0.25",
}


@pytest.fixture(scope="module")
def quick_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose Spaces end themselves within seconds once their host left."""
    server = start_server(tmp_path_factory.mktemp("player-lifecycle"), command="serve",
                          extra_env=QUICK_LIFECYCLE)
    yield server
    stop_server(server)
    assert "Traceback" not in server.log(), server.log()[-5000:]


ENDING_SHOWN = "#ending-card:not([hidden]) #ending-message:has-text('The host left the stage')"


def test_the_host_leaves_everyone_is_warned_then_it_ends_itself(quick_server, browser) -> None:  # noqa: F811
    base = quick_server.base_url.rstrip("/")
    host, space_id = host_goes_live(browser, base, "Where did the host go?")
    listener = new_page(browser, "listener", **PHONE_OPTIONS)
    listener.goto(f"{base}/s/{space_id}")
    listening(listener, "the listener")
    assert listener.is_hidden("#ending-card")

    # --- The host leaves the stage: everyone is told when the Space ends ----------------
    host.click("#leave-stage-button")
    listener.wait_for_selector(ENDING_SHOWN, timeout=UI_MS)
    ending = httpx.get(f"{base}/api/spaces/{space_id}", timeout=10).json()["ending"]
    assert ending and ending["reason"] == "host_absent", ending
    # The time it ends, as the listener's clock shows it (HH:MM).
    at = listener.evaluate(
        "iso => new Date(iso).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', hourCycle: 'h23'})",
        ending["ends_at"])
    message = listener.text_content("#ending-message")
    assert re.search(r" ends at \d\d:\d\d unless ", message), message
    assert message == f"The host left the stage. This Space ends at {at} unless the host comes back.", message
    # The sentence is in a live region (read out once); the countdown is a timer beside
    # it, outside any live region, so it is not read out every second.
    assert listener.get_attribute("#ending-message", "role") == "status"
    assert listener.get_attribute("#ending-countdown", "role") == "timer"
    assert listener.evaluate("() => document.getElementById('ending-countdown')"
                             ".closest('[aria-live], [role=status], [role=alert]')") is None
    first = listener.text_content("#ending-countdown")
    assert re.fullmatch(r"\d+:\d\d", first), first
    wait_js(listener, "first => document.getElementById('ending-countdown').textContent !== first",
            UI_MS, arg=first, what="the countdown to move")
    assert listener.text_content("#ending-message") == message, "the live region must not change every second"
    host.wait_for_selector(ENDING_SHOWN, timeout=UI_MS)
    viewport_screenshot(listener, "player-ending-phone.png")
    no_serious_violations(listener)
    page_screenshot(host, "player-ending-host-desktop.png")
    no_serious_violations(host)

    # --- The host comes back: the notice goes, and that is said -------------------------
    host.click("#join-stage-button")
    wait_js(host, "() => window.townhallPublisher.state === 'connected'", CONNECT_TIMEOUT_MS,
            what="the host back on stage")
    listener.wait_for_selector("#ending-card", state="hidden", timeout=UI_MS)
    wait_js(listener, "() => document.getElementById('space-announcer').textContent"
                      " === 'The host is back. The Space goes on.'", UI_MS,
            what="the host's return captioned")
    assert httpx.get(f"{base}/api/spaces/{space_id}", timeout=10).json()["ending"] is None

    # --- The host leaves for good: it ends itself, and the page says why ---------------
    host.click("#leave-stage-button")
    listener.wait_for_selector(ENDING_SHOWN, timeout=UI_MS)
    listener.wait_for_selector("#ended-card:not([hidden])", timeout=int((END_S + 15) * 1000))
    space = httpx.get(f"{base}/api/spaces/{space_id}", timeout=10).json()
    assert space["state"] == "ended" and space["end_reason"] == "host_absent", space
    assert listener.is_hidden("#ending-card")
    reason = listener.text_content("#ended-reason")
    assert listener.is_visible("#ended-reason")
    assert reason.startswith("It ended by itself because the host left the stage"), reason
    wait_js(listener, "() => document.getElementById('space-announcer').textContent"
                      ".includes('It ended by itself because the host left.')", UI_MS,
            what="the end and its reason captioned")
    assert listener.evaluate("() => townhallPlayer.kind") != "replay"
    assert listener.is_visible("#play-replay-button")
    wait_js(listener, "() => townhallPlayer.url === null", PLAY_TIMEOUT_MS,
            what="the live stream's last seconds to play out")
    page_screenshot(listener, "player-ended-host-absent-phone.png")
    no_serious_violations(listener)


def test_a_host_who_sees_no_player_still_shares_the_space(server, browser) -> None:  # noqa: F811
    """The host of a Space not started yet has no player (nothing to listen to), yet
    wants to share the link above all: Share sits in the Space's header for them."""
    base = server.base_url.rstrip("/")
    page = new_page(browser, "host", viewport=PHONE, permissions=CLIPBOARD)
    page.add_init_script(NO_SHARE_SHEET)
    sign_up_and_create(page, base, "Tell everyone", prefix="sharer")
    page.wait_for_selector("#go-live-button:not([hidden])", timeout=UI_MS)
    assert page.is_hidden("#player-card")
    page.click("#stage-share-button")
    page.wait_for_selector("#stage-share-status:has-text('Link copied')", timeout=UI_MS)
    assert page.evaluate("() => navigator.clipboard.readText()") == page.url
    page_screenshot(page, "share-host-phone.png")
    no_serious_violations(page)
    # A listener has the player's own Share instead: one Share button on the page.
    listener = new_page(browser, "listener", viewport=PHONE)
    listener.goto(page.url)
    listener.wait_for_selector("#player-card:not([hidden])", timeout=UI_MS)
    assert listener.is_hidden("#stage-share")
