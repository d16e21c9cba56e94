"""End to end in a real browser: a host signs up, creates a Space and goes live from
Chromium with a 440 Hz fake microphone; an independent HLS client hears 440 Hz; an
anonymous listener's page plays it; when the host ends the Space the listener's page
says so and plays the replay when asked.

Debian's Chromium (/usr/bin/chromium) driven by Playwright: never `playwright install`.
Screenshots for humans go to test-artifacts/ at the repository root.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from townhall.testing.browser import (
    collect_segments_after,
    decode_audio,
    dominant_frequency,
    fetch_playlist,
    write_tone_wav,
)

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TONE_HZ = 440.0
# The whole path (Opus in, mixer, AAC out) must keep the tone's pitch within 5 Hz.
TONE_TOLERANCE_HZ = 5.0
HEARD_SECONDS = 5.0
# RMS of the 0.3-amplitude tone is ~0.21; anything above this is not silence.
AUDIBLE_RMS = 0.02
CONNECT_TIMEOUT_MS = 20_000
PLAY_TIMEOUT_MS = 30_000
POLL_MS = 200


def chromium_args(wav: Path) -> list[str]:
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        "--autoplay-policy=no-user-gesture-required",
    ]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    if not CHROMIUM.exists():
        if os.environ.get("TOWNHALL_SKIP_BROWSER_TESTS") == "1":
            pytest.skip("no /usr/bin/chromium and TOWNHALL_SKIP_BROWSER_TESTS=1")
        pytest.fail("Debian's chromium is missing: run `make setup` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    wav = write_tone_wav(tmp_path / "tone-440hz.wav", TONE_HZ, seconds=30.0)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=chromium_args(wav)
        )
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, name: str, **context_options):
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.on("console", lambda msg: print(f"[{name} console.{msg.type}] {msg.text}"))
    page.on("pageerror", lambda err: print(f"[{name} pageerror] {err}"))
    return page


def wait_js(page, expression: str, timeout_ms: int, arg: object = None, what: str = ""):
    """Poll a JS expression until truthy; on timeout, fail with the page's state."""
    try:
        return page.wait_for_function(expression, arg=arg, polling=POLL_MS, timeout=timeout_ms)
    except Exception as exc:  # playwright TimeoutError
        state = page.evaluate(
            """() => ({
                error: document.getElementById('error')?.textContent,
                stage: document.getElementById('stage-status')?.textContent,
                player: document.getElementById('player-status')?.textContent,
                publisher: window.townhallPublisher && {
                    state: window.townhallPublisher.state, error: window.townhallPublisher.error},
                audio: window.townhallPlayer && {
                    mode: window.townhallPlayer.mode, kind: window.townhallPlayer.kind,
                    url: window.townhallPlayer.url, paused: window.townhallPlayer.audio.paused,
                    currentTime: window.townhallPlayer.audio.currentTime,
                    readyState: window.townhallPlayer.audio.readyState,
                    level: window.townhallPlayer.level()},
            })"""
        )
        raise AssertionError(f"timed out waiting for {what or expression}: {state}") from exc


def wait_playing(page, seconds: float, timeout_ms: int, what: str) -> None:
    """audio.currentTime advances by `seconds` while not paused."""
    wait_js(page, "() => window.townhallPlayer.audio.currentTime > 0", timeout_ms,
            what=f"{what}: start")
    start = page.evaluate("() => window.townhallPlayer.audio.currentTime")
    wait_js(
        page,
        "start => !window.townhallPlayer.audio.paused"
        " && window.townhallPlayer.audio.currentTime > start",
        timeout_ms,
        arg=start + seconds,
        what=f"{what}: currentTime to advance {seconds} s past {start:.2f}",
    )


def unique_name(prefix: str) -> str:
    """The shared server lives for the whole session: usernames must not collide."""
    return f"{prefix}_{secrets.token_hex(3)}"


def pc_inbound_audio_level(page) -> float:
    """audioLevel of the publisher's received (mix-minus) track, from getStats()."""
    return page.evaluate(
        """async () => {
            const pc = window.townhallPublisher.pc;
            if (!pc) return 0;
            let level = 0;
            (await pc.getStats()).forEach((r) => {
                if (r.type === 'inbound-rtp' && r.kind === 'audio') level = r.audioLevel || 0;
            });
            return level;
        }"""
    )


def sign_up_and_create(page, base: str, title: str, prefix: str = "host") -> str:
    """In `page`: sign up, create a Space called `title` from the home page, land on its
    page; its id."""
    page.goto(f"{base}/signup")
    page.fill("#username", unique_name(prefix))
    page.fill("#password", "correct horse battery")
    page.click("#auth-submit")
    page.wait_for_url(f"{base}/")
    page.wait_for_selector("#create:not([hidden])")
    page.fill("#create-title", title)
    page.click("#create-button")
    page.wait_for_url(re.compile(r"/s/[A-Za-z0-9_-]+$"))
    return page.url.rsplit("/s/", 1)[1]


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_host_goes_live_listener_hears_tone_then_replay(server, browser) -> None:
    base = server.base_url.rstrip("/")
    username = unique_name("alice")

    # --- Host: sign up, create a Space, go live with the 440 Hz fake microphone ---------
    host = new_page(browser, "host", viewport={"width": 1280, "height": 900})
    host.goto(f"{base}/signup")
    host.fill("#username", username)
    host.fill("#password", "correct horse battery")
    host.click("#auth-submit")
    host.wait_for_url(f"{base}/")
    host.wait_for_selector("#create:not([hidden])")
    host.wait_for_selector("#discover-list .space-link, #discover-list .muted:not(:has-text('Loading'))")
    screenshot(host, "home-signed-in.png")
    host.fill("#create-title", "Tone check: 440 Hz")
    host.click("#create-button")
    host.wait_for_url(re.compile(r"/s/[A-Za-z0-9_-]+$"))
    space_id = host.url.rsplit("/s/", 1)[1]

    host.goto(f"{base}/s/{space_id}?original_sound=1")
    host.wait_for_selector("#go-live-button:not([hidden])")
    assert host.is_checked("#original-sound"), "?original_sound=1 must check 'Original sound'"
    host.click("#go-live-button")
    wait_js(
        host,
        "() => ['connected', 'failed'].includes(window.townhallPublisher.state)",
        CONNECT_TIMEOUT_MS,
        what="the host's WHIP connection",
    )
    publisher = host.evaluate(
        "() => ({state: townhallPublisher.state, error: townhallPublisher.error,"
        " pc: townhallPublisher.pc && townhallPublisher.pc.connectionState})"
    )
    assert publisher["state"] == "connected", f"publishing failed: {publisher}"
    assert publisher["pc"] == "connected"

    with httpx.Client(timeout=15) as client:
        space = client.get(f"{base}/api/spaces/{space_id}").json()
        assert space["state"] == "live"
        assert space["speakers"][0]["on_stage"] is True, space
        hls_url = space["hls_url"]

        # --- An independent listener: decode >= 5 s of the live HLS with PyAV ----------
        playlist = fetch_playlist(client, hls_url)
        assert playlist.has_program_date_time, playlist.text
        # Segments after the one in progress were made entirely after the host connected.
        data, uris = collect_segments_after(
            client, hls_url, after_msn=playlist.newest_msn, seconds=HEARD_SECONDS + 0.5, timeout=30
        )
        samples, rate = decode_audio(data)
        assert len(samples) >= HEARD_SECONDS * rate, f"only {len(samples) / rate:.2f} s decoded"
        frequency = dominant_frequency(samples, rate)
        rms = float(np.sqrt(np.mean(samples**2)))
        assert abs(frequency - TONE_HZ) <= TONE_TOLERANCE_HZ, (
            f"dominant frequency {frequency:.1f} Hz (rms {rms:.3f}) in {uris}"
        )
        assert rms > AUDIBLE_RMS, f"the tone is too quiet: rms {rms:.4f}"

    host.wait_for_selector("#speakers .on-stage")
    screenshot(host, "host-live.png")

    # --- An anonymous listener on a phone-sized screen ----------------------------------
    listener = new_page(
        browser, "listener", viewport={"width": 390, "height": 844}, device_scale_factor=2,
        is_mobile=True, has_touch=True,
    )
    listener.goto(f"{base}/s/{space_id}")
    wait_js(
        listener,
        "() => window.townhallPlayer && window.townhallPlayer.kind === 'live'"
        " && window.townhallPlayer.mode",
        PLAY_TIMEOUT_MS,
        what="the live player",
    )
    assert listener.evaluate("() => townhallPlayer.mode") == "stream", \
        "MSE plays AAC in MP4: the one-stream path expected"
    wait_playing(listener, 2.0, PLAY_TIMEOUT_MS, "live playback")
    wait_js(
        listener,
        "min => window.townhallPlayer.level() > min",
        PLAY_TIMEOUT_MS,
        arg=AUDIBLE_RMS,
        what="audible output from the live player",
    )
    assert listener.is_hidden("#stage-card") and listener.is_hidden("#host-card")
    screenshot(listener, "listener-live.png")

    # --- The host ends the Space: the listener's page becomes the replay player ---------
    host.once("dialog", lambda dialog: dialog.accept())
    host.click("#end-button")
    deadline = time.monotonic() + 15
    with httpx.Client(timeout=15) as client:
        while True:
            space = client.get(f"{base}/api/spaces/{space_id}").json()
            if space["state"] == "ended":
                break
            assert time.monotonic() < deadline, f"the Space did not end: {space}"
            time.sleep(0.2)
    assert space["replay_url"], space
    # The replay never starts by itself: the listener presses Play replay.
    listener.wait_for_selector("#ended-card:not([hidden]) #play-replay-button:not([hidden])",
                               timeout=PLAY_TIMEOUT_MS)
    assert listener.evaluate("() => window.townhallPlayer.kind") != "replay"
    listener.click("#play-replay-button")
    wait_js(
        listener,
        "url => window.townhallPlayer.kind === 'replay' && window.townhallPlayer.url === url",
        PLAY_TIMEOUT_MS,
        arg=space["replay_url"],
        what="the listener's player to switch to the replay",
    )
    wait_playing(listener, 1.5, PLAY_TIMEOUT_MS, "replay playback")
    wait_js(
        listener,
        "min => window.townhallPlayer.level() > min",
        PLAY_TIMEOUT_MS,
        arg=AUDIBLE_RMS,
        what="audible output from the replay",
    )
    screenshot(listener, "listener-replay.png")
    host.wait_for_selector("#space-state[data-state='ended']")
    screenshot(host, "host-ended.png")


def test_invited_speaker_joins_stage_and_speakers_hear_each_other(server, browser) -> None:
    base = server.base_url.rstrip("/")
    host = new_page(browser, "host", viewport={"width": 1280, "height": 900})
    host.goto(f"{base}/signup")
    host.fill("#username", unique_name("host"))
    host.fill("#password", "correct horse battery")
    host.click("#auth-submit")
    host.wait_for_url(f"{base}/")
    host.wait_for_selector("#create:not([hidden])")
    host.fill("#create-title", "Two speakers")
    host.click("#create-button")
    host.wait_for_url(re.compile(r"/s/[A-Za-z0-9_-]+$"))
    space_id = host.url.rsplit("/s/", 1)[1]
    host.goto(f"{base}/s/{space_id}?original_sound=1")
    host.click("#go-live-button")
    wait_js(host, "() => window.townhallPublisher.state === 'connected'", CONNECT_TIMEOUT_MS,
            what="the host on stage")

    host.click("#invite-block > summary")  # the host panel's sections start collapsed
    host.click("#invite-button")
    host.wait_for_selector("#invite-box:not([hidden])")
    invite_url = host.input_value("#invite-url")
    assert re.search(rf"/s/{re.escape(space_id)}/invite/[A-Za-z0-9_-]+$", invite_url), invite_url
    screenshot(host, "host-invite.png")

    # The invited speaker is not signed in: sign up from the invite page, come back to it.
    speaker = new_page(browser, "speaker", viewport={"width": 390, "height": 844},
                       device_scale_factor=2, is_mobile=True, has_touch=True)
    speaker.goto(invite_url)
    speaker.wait_for_selector("#invite-signed-out:not([hidden])")
    assert speaker.inner_text("#invite-title") == "Two speakers"
    speaker.click("#invite-signup")
    speaker.wait_for_url(re.compile(r"/signup\?next="))
    speaker.fill("#username", unique_name("bob"))
    speaker.fill("#password", "another horse battery")
    speaker.click("#auth-submit")
    speaker.wait_for_url(invite_url)
    speaker.click("#accept-button")
    speaker.wait_for_url(f"{base}/s/{space_id}")
    speaker.wait_for_selector("#join-stage-button:not([hidden])")
    assert speaker.is_hidden("#host-card"), "a speaker must not see host controls"
    speaker.check("#original-sound")
    speaker.click("#join-stage-button")
    wait_js(speaker, "() => ['connected', 'failed'].includes(window.townhallPublisher.state)",
            CONNECT_TIMEOUT_MS, what="the speaker's WHIP connection")
    assert speaker.evaluate("() => townhallPublisher.state") == "connected", speaker.evaluate(
        "() => townhallPublisher.error")

    # Each hears the other's tone on their mix-minus track.
    for name, page in (("host", host), ("speaker", speaker)):
        deadline = time.monotonic() + PLAY_TIMEOUT_MS / 1000
        while (level := pc_inbound_audio_level(page)) <= AUDIBLE_RMS:
            assert time.monotonic() < deadline, f"the {name} hears nothing (audioLevel {level})"
            page.wait_for_timeout(POLL_MS)
    host.wait_for_function("() => document.querySelectorAll('#speakers .on-stage').length === 2",
                           polling=POLL_MS, timeout=PLAY_TIMEOUT_MS)
    screenshot(speaker, "speaker-on-stage.png")

    # Mute, then leave the stage: the server drops the WHIP resource.
    speaker.click("#mute-button")
    assert speaker.evaluate("() => townhallPublisher.stream.getAudioTracks()[0].enabled") is False
    speaker.click("#leave-stage-button")
    wait_js(speaker, "() => window.townhallPublisher.state === 'closed'", CONNECT_TIMEOUT_MS,
            what="leaving the stage")
    with httpx.Client(timeout=15) as client:
        deadline = time.monotonic() + 10
        while True:
            speakers = client.get(f"{base}/api/spaces/{space_id}").json()["speakers"]
            on_stage = [s["username"] for s in speakers if s["on_stage"]]
            if len(on_stage) == 1:
                break
            assert time.monotonic() < deadline, f"still on stage after leaving: {speakers}"
            time.sleep(0.2)
    # Back in the audience, the speaker's page plays the live program.
    wait_js(speaker, "() => window.townhallPlayer.kind === 'live'", PLAY_TIMEOUT_MS,
            what="the live player after leaving the stage")


# A page that never hears `stage` messages (as when its feed was reconnecting while a
# speaker joined: a node was lost, the network blinked).
DROP_STAGE_MESSAGES = """
const add = EventSource.prototype.addEventListener;
EventSource.prototype.addEventListener = function (type, ...rest) {
  if (type !== 'stage') return add.call(this, type, ...rest);
};
"""


def test_a_page_that_missed_a_stage_message_learns_it_from_the_mixers_levels(
        server, browser) -> None:
    base = server.base_url.rstrip("/")
    host = new_page(browser, "host", viewport={"width": 1280, "height": 900})
    host.goto(f"{base}/signup")
    host.fill("#username", unique_name("host"))
    host.fill("#password", "correct horse battery")
    host.click("#auth-submit")
    host.wait_for_url(f"{base}/")
    host.wait_for_selector("#create:not([hidden])")
    host.fill("#create-title", "Who is on stage")
    host.click("#create-button")
    host.wait_for_url(re.compile(r"/s/[A-Za-z0-9_-]+$"))
    space_id = host.url.rsplit("/s/", 1)[1]

    # The listener's page is open before the host goes live, and deaf to `stage`.
    listener = new_page(browser, "listener", viewport={"width": 390, "height": 844})
    listener.add_init_script(DROP_STAGE_MESSAGES)
    listener.goto(f"{base}/s/{space_id}")
    wait_js(listener, "() => window.townhallSpace().feed === 'stream'", CONNECT_TIMEOUT_MS,
            what="the listener's live feed")

    host.goto(f"{base}/s/{space_id}?original_sound=1")
    host.click("#go-live-button")
    wait_js(host, "() => window.townhallPublisher.state === 'connected'", CONNECT_TIMEOUT_MS,
            what="the host on stage")

    # The mixer's `levels` messages say who is on stage: the page catches up from them.
    listener.wait_for_selector("#speakers .on-stage", timeout=PLAY_TIMEOUT_MS)
    assert listener.evaluate("() => window.townhallSpace().space.speakers[0].on_stage") is True
    # End it, so the shared server's mixer stops.
    host.on("dialog", lambda dialog: dialog.accept())
    host.click("#end-button")
    wait_js(host, "() => window.townhallSpace().space.state === 'ended'", PLAY_TIMEOUT_MS,
            what="the Space to end")
