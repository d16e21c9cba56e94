"""The Spaces product in real browsers: roles, moderation and the waiting room.

A scripted Space: the host (Chromium, 440 Hz fake microphone) creates and runs it; a
co-host (API client) is made co-host in the host's UI and pins a link; a listener
(another Chromium, 880 Hz fake microphone) raises a hand in the UI, the host approves it
in the UI, the listener joins the stage and is heard in the HLS (checked by frequency
with PyAV); the host mutes that speaker in the UI and the 880 Hz tone leaves the HLS;
the host removes a third listener, whose page says so and whose audio stops.

A scheduled Space: its share page has OpenGraph tags, "Remind me" and a calendar link,
and its player plays the waiting room; when the host goes live the same player (no
reload) plays the host.

Debian's Chromium (/usr/bin/chromium) driven by Playwright: never `playwright install`.
Screenshots for humans go to test-artifacts/ at the repository root.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from townhall.testing.browser import (
    band_power_db,
    band_share_db,
    collect_segments_after,
    decode_audio,
    dominant_frequency,
    fetch_playlist,
    launched_chromium,
    wait_until,
)
from townhall.testing.servers import signed_in_client
from tests.system.test_browser import (
    AUDIBLE_RMS,
    CHROMIUM,
    CONNECT_TIMEOUT_MS,
    PLAY_TIMEOUT_MS,
    chromium_args,
    new_page,
    screenshot,
    wait_js,
    wait_playing,
)

pytestmark = pytest.mark.browser

HOST_HZ = 440.0
SPEAKER_HZ = 880.0
TONE_TOLERANCE_HZ = 5.0
# Seconds of program analysed per check, skipping the first bit of each decode (the AAC
# encoder's look-ahead can carry ~40 ms from before a mute into the next segment).
ANALYSED_SECONDS = 4.0
SKIP_SECONDS = 0.1
# Each tone of a two-tone mix carries about half the energy (-3 dB); a tone that is
# "present" is well above -10 dB of the total, one that is gone far below.
PRESENT_SHARE_DB = -10.0
MUTE_DROP_DB = 30.0
UI_TIMEOUT_MS = 15_000
# The roster is asked for at most every beacon interval (10 s).
ROSTER_TIMEOUT_MS = 30_000
API_TIMEOUT = 15.0
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
SESSION_COOKIE = "townhall_session"


@pytest.fixture
def browsers(tmp_path: Path) -> Iterator[dict[float, object]]:
    """One Chromium per fake-microphone tone (the capture file is a launch argument)."""
    tones = {HOST_HZ: 60.0, SPEAKER_HZ: 60.0}
    with launched_chromium(CHROMIUM, chromium_args, tmp_path, tones) as launched:
        yield launched


class Person:
    """A signed-up user: an API client, and optionally a browser page signed in as them."""

    def __init__(self, base: str, prefix: str) -> None:
        self.client = signed_in_client(base, prefix)
        me = self.client.get("/api/me").json()
        self.id: int = me["id"]
        self.username: str = me["username"]
        self.page = None

    def open(self, browser, base: str, name: str, **options):  # type: ignore[no-untyped-def]
        page = new_page(browser, name, **options)
        page.context.add_cookies(
            [{"name": SESSION_COOKIE, "value": self.client.cookies[SESSION_COOKIE], "url": base}]
        )
        self.page = page
        return page


def speaker_entry(api: httpx.Client, space_id: str, user_id: int) -> dict | None:
    space = api.get(f"/api/spaces/{space_id}").json()
    return next((s for s in space["speakers"] if s["id"] == user_id), None)


def program_after_now(api: httpx.Client, hls_url: str) -> tuple[np.ndarray, int]:
    """ANALYSED_SECONDS of the program made entirely after this call (segments after the
    one in progress), decoded to samples."""
    playlist = fetch_playlist(api, hls_url)
    data, _ = collect_segments_after(
        api, hls_url, after_msn=playlist.newest_msn, seconds=ANALYSED_SECONDS + SKIP_SECONDS,
        timeout=30,
    )
    samples, rate = decode_audio(data)
    samples = samples[int(SKIP_SECONDS * rate):]
    assert len(samples) >= ANALYSED_SECONDS * rate, f"only {len(samples) / rate:.2f} s decoded"
    return samples[: int(ANALYSED_SECONDS * rate)], rate


def describe(samples: np.ndarray, rate: int) -> str:
    return (
        f"dominant {dominant_frequency(samples, rate):.1f} Hz, "
        f"440 Hz share {band_share_db(samples, rate, HOST_HZ):.1f} dB, "
        f"880 Hz share {band_share_db(samples, rate, SPEAKER_HZ):.1f} dB, "
        f"rms {float(np.sqrt(np.mean(samples**2))):.4f}"
    )


def test_hand_raise_approve_speak_mute_and_remove(server, browsers) -> None:
    base = server.base_url.rstrip("/")
    api = httpx.Client(base_url=base, timeout=API_TIMEOUT)
    host_user, cohost, speaker_user, third = (
        Person(base, prefix) for prefix in ("host", "cohost", "speaker", "listener")
    )

    # --- The host creates a Space from the home page and goes live (440 Hz) -------------
    host = host_user.open(browsers[HOST_HZ], base, "host", **DESKTOP)
    host.on("dialog", lambda dialog: dialog.accept())  # "Remove @x?" confirmations
    host.goto(f"{base}/")
    host.wait_for_selector("#create:not([hidden])")
    host.fill("#create-title", "Hands up: a scripted Space")
    host.fill("#create-description", "Who gets to speak, and who gets removed.")
    host.fill("#create-topics", "moderation, audio")
    host.click("#create-button")
    host.wait_for_url(re.compile(r"/s/[A-Za-z0-9_-]+$"))
    space_id = host.url.rsplit("/s/", 1)[1]
    host.goto(f"{base}/s/{space_id}?original_sound=1")
    host.click("#go-live-button")
    wait_js(host, "() => ['connected', 'failed'].includes(window.townhallPublisher.state)",
            CONNECT_TIMEOUT_MS, what="the host's WHIP connection")
    assert host.evaluate("() => townhallPublisher.state") == "connected", host.evaluate(
        "() => townhallPublisher.error")
    space = api.get(f"/api/spaces/{space_id}").json()
    assert space["state"] == "live" and space["topics"] == ["moderation", "audio"], space
    hls_url = space["hls_url"]

    # --- The host makes the co-host (not in the room) a co-host, by username -----------
    host.click("#person-block > summary")  # collapsed until wanted
    host.fill("#person-username", cohost.username)
    host.click("#cohost-user-button")
    wait_until(lambda: (e := speaker_entry(api, space_id, cohost.id)) and e["role"] == "cohost",
               "the co-host role", API_TIMEOUT)
    host.wait_for_selector(f"#speakers li[data-user-id='{cohost.id}'][data-role='cohost']")

    # --- A signed-in listener (880 Hz browser, phone) and a third listener tune in ------
    listener = speaker_user.open(browsers[SPEAKER_HZ], base, "listener", **PHONE)
    listener.goto(f"{base}/s/{space_id}")
    other = third.open(browsers[HOST_HZ], base, "third", **PHONE)
    other.goto(f"{base}/s/{space_id}")
    for page, name in ((listener, "listener"), (other, "third listener")):
        wait_js(page, "() => window.townhallPlayer && window.townhallPlayer.kind === 'live'",
                PLAY_TIMEOUT_MS, what=f"the {name}'s live player")
        wait_js(page, "() => window.townhallSpace().feed === 'stream'", UI_TIMEOUT_MS,
                what=f"the {name}'s live events")
    wait_playing(listener, 1.0, PLAY_TIMEOUT_MS, "the listener's live playback")
    assert listener.is_hidden("#host-card") and listener.is_hidden("#stage-card")

    # The co-host pins a link (API): every page shows it live, from the event stream.
    pinned = "https://example.org/agenda"
    response = cohost.client.put(f"/api/spaces/{space_id}/pinned", json={"url": pinned})
    assert response.status_code == 200, response.text
    for page in (listener, other, host):
        page.wait_for_selector(f"#pinned:not([hidden]) a[href='{pinned}']", timeout=UI_TIMEOUT_MS)

    # --- The listener asks to speak; the host sees the hand and approves it -------------
    listener.click("#raise-hand-button")
    listener.wait_for_selector("#lower-hand-button:not([hidden])", timeout=UI_TIMEOUT_MS)
    assert listener.is_hidden("#raise-hand-button")
    hand = f"#hand-queue li[data-user-id='{speaker_user.id}']"
    host.wait_for_selector(hand, timeout=UI_TIMEOUT_MS)
    assert host.inner_text("#hand-count") == "1"
    screenshot(host, "spaces-host-panel.png")
    host.click(f"{hand} button[data-act='approve']")
    listener.wait_for_selector("#join-stage-button:not([hidden])", timeout=UI_TIMEOUT_MS)
    assert listener.is_hidden("#audience-card") and listener.is_hidden("#host-card")
    assert listener.is_visible("#step-down-button")
    host.wait_for_selector(f"{hand}", state="detached", timeout=UI_TIMEOUT_MS)

    # --- The new speaker joins the stage (880 Hz) ----------------------------------------
    listener.check("#original-sound")
    listener.click("#join-stage-button")
    wait_js(listener, "() => ['connected', 'failed'].includes(window.townhallPublisher.state)",
            CONNECT_TIMEOUT_MS, what="the speaker's WHIP connection")
    assert listener.evaluate("() => townhallPublisher.state") == "connected", listener.evaluate(
        "() => townhallPublisher.error")
    # The host's page sees them on stage and speaking (the mixer's levels, live).
    on_host_page = f"#speakers li[data-user-id='{speaker_user.id}']"
    host.wait_for_selector(f"{on_host_page}.on-stage.speaking", timeout=UI_TIMEOUT_MS)
    host.wait_for_selector(f"#speakers li[data-user-id='{host_user.id}'].speaking",
                           timeout=UI_TIMEOUT_MS)

    # --- Host muted (server-side, from the UI): the program is the speaker's 880 Hz ----
    host.click("#mute-button")
    host.wait_for_selector("#mute-button:has-text('Unmute')", timeout=UI_TIMEOUT_MS)
    wait_until(lambda: speaker_entry(api, space_id, host_user.id)["muted"], "the host muted",
               API_TIMEOUT)
    samples, rate = program_after_now(api, hls_url)
    frequency = dominant_frequency(samples, rate)
    assert abs(frequency - SPEAKER_HZ) <= TONE_TOLERANCE_HZ, describe(samples, rate)
    assert float(np.sqrt(np.mean(samples**2))) > AUDIBLE_RMS, describe(samples, rate)
    assert band_share_db(samples, rate, HOST_HZ) < PRESENT_SHARE_DB, describe(samples, rate)
    host.wait_for_selector(f"#speakers li[data-user-id='{host_user.id}'].muted")

    # --- Both speaking: both tones in the program -----------------------------------------
    host.click("#mute-button")
    host.wait_for_selector("#mute-button:has-text('Mute'):not(:has-text('Unmute'))",
                           timeout=UI_TIMEOUT_MS)
    wait_until(lambda: not speaker_entry(api, space_id, host_user.id)["muted"], "the host unmuted",
               API_TIMEOUT)
    both, rate = program_after_now(api, hls_url)
    for tone in (HOST_HZ, SPEAKER_HZ):
        share = band_share_db(both, rate, tone)
        assert share > PRESENT_SHARE_DB, f"{tone} Hz: {describe(both, rate)}"
    speaker_before = band_power_db(both, rate, SPEAKER_HZ)

    # --- The host mutes the speaker in the UI (their face's sheet): 880 Hz leaves ------
    host.click(f"{on_host_page} button[data-sheet]")
    host.click("#person-sheet[open] #sheet-actions button[data-act='mute']")
    wait_until(lambda: speaker_entry(api, space_id, speaker_user.id)["muted"], "the speaker muted",
               API_TIMEOUT)
    host.wait_for_selector(f"{on_host_page}.muted .muted-tag", timeout=UI_TIMEOUT_MS)
    # The speaker's page follows the server: shown muted, microphone track disabled.
    listener.wait_for_selector("#mute-button:has-text('Unmute')", timeout=UI_TIMEOUT_MS)
    assert listener.evaluate("() => townhallPublisher.stream.getAudioTracks()[0].enabled") is False
    after, rate = program_after_now(api, hls_url)
    speaker_after = band_power_db(after, rate, SPEAKER_HZ)
    assert speaker_before - speaker_after >= MUTE_DROP_DB, (
        f"880 Hz only dropped {speaker_before - speaker_after:.1f} dB "
        f"({speaker_before:.1f} -> {speaker_after:.1f} dB); after: {describe(after, rate)}"
    )
    frequency = dominant_frequency(after, rate)
    assert abs(frequency - HOST_HZ) <= TONE_TOLERANCE_HZ, describe(after, rate)
    screenshot(listener, "spaces-speaker-muted.png")

    # --- Reactions: they float on other pages; too many get a "slow down" -----------------
    other.click("#reaction-bar button.reaction >> nth=0")
    host.wait_for_selector("#reaction-overlay .floating-reaction", timeout=UI_TIMEOUT_MS)
    other.evaluate(
        "() => { const b = document.querySelector('#reaction-bar button.reaction');"
        " for (let i = 0; i < 8; i++) b.click(); }"
    )
    other.wait_for_selector("#reaction-status:not([hidden]):has-text('Slow down')",
                            timeout=UI_TIMEOUT_MS)
    wait_playing(other, 1.0, PLAY_TIMEOUT_MS, "the third listener's live playback")
    screenshot(other, "spaces-listener.png")

    # --- The host removes the third listener: their face in the roster, its sheet ---------
    in_roster = f"#roster-faces li[data-user-id='{third.id}']"
    host.wait_for_selector(in_roster, timeout=ROSTER_TIMEOUT_MS)
    host.click(f"{in_roster} button[data-sheet]")
    host.click("#person-sheet[open] #sheet-actions button[data-act='remove']")
    other.wait_for_selector("#removed-card:not([hidden])", timeout=UI_TIMEOUT_MS)
    assert other.inner_text("#removed-message") == "You were removed from this Space"
    audio = other.evaluate(
        "() => ({paused: townhallPlayer.audio.paused, url: townhallPlayer.url,"
        " src: townhallPlayer.audio.getAttribute('src'),"
        " hls: Boolean(townhallPlayer.hls || townhallPlayer.dash),"
        " readyState: townhallPlayer.audio.readyState, feed: townhallSpace().feed})"
    )
    assert audio["paused"] and audio["url"] is None and not audio["src"], audio
    assert not audio["hls"] and audio["readyState"] == 0, audio
    assert audio["feed"] == "closed", audio
    assert other.is_hidden("#player-card") and other.is_hidden("#audience-card")
    screenshot(other, "spaces-listener-removed.png")
    refused = third.client.get(f"/api/spaces/{space_id}")
    assert refused.status_code == 403, refused.text
    # Coming back does not help: the page says so straight away.
    other.reload()
    other.wait_for_selector("#removed-card:not([hidden])", timeout=UI_TIMEOUT_MS)
    assert other.evaluate("() => townhallPlayer.url") is None

    # --- The speaker steps down: back in the audience, listening -------------------------
    listener.click("#step-down-button")
    wait_js(listener, "() => window.townhallPublisher.state === 'closed'", UI_TIMEOUT_MS,
            what="stepping down")
    listener.wait_for_selector("#raise-hand-button:not([hidden])", timeout=UI_TIMEOUT_MS)
    wait_js(listener, "() => window.townhallPlayer.kind === 'live'", PLAY_TIMEOUT_MS,
            what="the live player after stepping down")
    assert speaker_entry(api, space_id, speaker_user.id) is None
    api.close()


def meta(page_html: str, key: str) -> str | None:
    match = re.search(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)"', page_html)
    return html.unescape(match.group(1)) if match else None


def test_scheduled_share_page_waiting_room_goes_live_without_reload(server, browsers) -> None:
    base = server.base_url.rstrip("/")
    api = httpx.Client(base_url=base, timeout=API_TIMEOUT)
    host_user, fan = Person(base, "host"), Person(base, "fan")
    start = datetime.now(UTC) + timedelta(hours=2)
    created = host_user.client.post("/api/spaces", json={
        "title": "Launch night & <friends>", "topics": ["launch"],
        "scheduled_start": start.isoformat(),
    })
    assert created.status_code == 201, created.text
    space_id = created.json()["id"]

    # --- The share page, as a link preview sees it (no JavaScript) -----------------------
    page_html = api.get(f"/s/{space_id}").text
    assert meta(page_html, "og:title") == "Launch night & <friends>"
    assert meta(page_html, "og:description") == f"Live audio Space hosted by @{host_user.username}"
    assert meta(page_html, "og:url") == f"{base}/s/{space_id}"
    assert meta(page_html, "og:type") == "website"
    assert meta(page_html, "twitter:title") == "Launch night & <friends>"
    assert api.get("/s/nosuchspace").status_code == 404

    # --- A fan opens it before the start: starting soon, remind me, the waiting room -----
    page = fan.open(browsers[HOST_HZ], base, "fan", **PHONE)
    page.goto(f"{base}/s/{space_id}")
    page.wait_for_selector("#soon-card:not([hidden])")
    assert page.get_attribute("#soon-time", "datetime")
    calendar = api.get(page.get_attribute("#calendar-link", "href"))
    assert calendar.status_code == 200 and "BEGIN:VEVENT" in calendar.text
    page.click("#remind-button")
    page.wait_for_selector("#remind-button:has-text('Reminded ✓')", timeout=UI_TIMEOUT_MS)
    reminders = fan.client.get("/api/me/reminders").json()
    assert [s["id"] for s in reminders] == [space_id], reminders
    wait_js(page, "() => window.townhallPlayer.kind === 'live'", PLAY_TIMEOUT_MS,
            what="the waiting-room player")
    wait_playing(page, 1.0, PLAY_TIMEOUT_MS, "the waiting room")
    screenshot(page, "spaces-share-page.png")
    page.evaluate("() => { window.waitingHls = townhallPlayer.stream || townhallPlayer.dash || townhallPlayer.hls;"
                  " window.waitingUrl = townhallPlayer.url; }")
    assert page.evaluate("() => townhallPlayer.level()") < AUDIBLE_RMS, "the waiting room is silent"

    # --- The host goes live from the browser (440 Hz): the same player hears the host ----
    host = host_user.open(browsers[HOST_HZ], base, "host", **DESKTOP)
    host.goto(f"{base}/s/{space_id}?original_sound=1")
    host.click("#go-live-button")
    wait_js(host, "() => window.townhallPublisher.state === 'connected'", CONNECT_TIMEOUT_MS,
            what="the host's WHIP connection")
    page.wait_for_selector("#space-state[data-state='live']", timeout=UI_TIMEOUT_MS)
    assert page.is_hidden("#soon-card")
    wait_js(page, "min => window.townhallPlayer.level() > min", PLAY_TIMEOUT_MS, arg=AUDIBLE_RMS,
            what="the host's tone in the player that joined before the start")
    assert page.evaluate(
        "() => (townhallPlayer.stream || townhallPlayer.dash || townhallPlayer.hls) === window.waitingHls"
        " && townhallPlayer.url === window.waitingUrl"
    ), "the player was reloaded when the Space went live"

    # The fan's home page: the reminded Space is live now.
    home = fan.page.context.new_page()
    home.goto(f"{base}/")
    home.wait_for_selector(f"#reminders-list li.highlight[data-space-id='{space_id}']",
                           timeout=UI_TIMEOUT_MS)
    assert "Live now — join" in home.inner_text("#reminders-list")
    screenshot(home, "spaces-home-reminder-live.png")
    # Over HTTP/1.1 (these tests; an edge with TLS speaks HTTP/2) Chromium holds at most 6
    # connections per host: the player's stream and the pages' event streams take
    # several, and a navigation would wait for one.
    home.close()

    # The host's name links to their profile, which lists the Space as live.
    page.click("#space-host")
    page.wait_for_url(f"{base}/u/{host_user.username}")
    page.wait_for_selector(f"#profile-live li[data-space-id='{space_id}']", timeout=UI_TIMEOUT_MS)
    screenshot(page, "spaces-profile.png")
    api.close()
