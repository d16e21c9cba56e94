"""Clips in a real browser: a Space where a speaker said 880 Hz for a few seconds has
ended; a listener opens its page, sees the replay's Download link and the clip form,
makes a clip of seconds 1-3, opens the clip's page (its player, captions, link back)
and plays it: the audio element plays through the clip's .m4a. Screenshots at 1280x900
and 390x844 go to test-artifacts/; axe-core finds nothing serious or critical."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from townhall.testing.browser import axe_violations, describe_violations
from townhall.testing.servers import live_space, stage
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher, sine
from tests.system.test_browser import browser, new_page, screenshot, unique_name, wait_js  # noqa: F401

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
UI_MS = 15_000
SPOKEN_SECONDS = 5.0


async def _speak(host: httpx.Client) -> dict:
    space = live_space(host, "Clip me")
    creds = stage(host, space["id"])
    speaker = WhipPublisher(creds["whip_url"], creds["token"], SyntheticTrack(sine(880)))
    await speaker.start()
    await asyncio.sleep(SPOKEN_SECONDS)
    await speaker.stop()
    ended = host.post(f"/api/spaces/{space['id']}/end")
    assert ended.status_code == 200, ended.text
    return ended.json()


def test_a_listener_clips_the_replay_and_plays_the_clip(server, browser) -> None:  # noqa: F811
    base = server.base_url.rstrip("/")
    host = httpx.Client(base_url=base, timeout=20)
    assert host.post("/api/auth/signup", json={"username": unique_name("clhost"),
                                               "password": "correct horse"}).status_code == 201
    # Playwright's sync API runs a loop in this thread: the speaker gets a thread of its own.
    with ThreadPoolExecutor(1) as pool:
        space = pool.submit(asyncio.run, _speak(host)).result()
    (server.data_dir / "recordings" / space["id"] / "transcript.json").write_text(json.dumps(
        {"final": True, "segments": [
            {"start": 1.2, "end": 2.5, "speaker": "Host", "text": "A tone worth clipping."}]}))

    page = new_page(browser, "listener", viewport=DESKTOP)
    page.goto(f"{base}/signup")
    page.fill("#username", unique_name("clipper"))
    page.fill("#password", "correct horse battery")
    page.click("#auth-submit")
    page.wait_for_url(f"{base}/")

    page.goto(f"{base}/s/{space['id']}")
    page.wait_for_selector("#clip-form:not([hidden])", timeout=UI_MS)
    assert page.is_visible("#download-link")
    assert page.get_attribute("#download-link", "href").endswith(f"/hls/{space['id']}/replay.m4a")
    assert page.is_hidden("#trim-block")  # the host's, not a listener's
    page.fill("#clip-start", "1")
    page.fill("#clip-end", "3")
    page.fill("#clip-title", "The best two seconds")
    page.click("#clip-button")
    page.wait_for_selector("#clip-made-link", timeout=UI_MS)
    page.wait_for_selector("#clip-list a:has-text('The best two seconds')", timeout=UI_MS)
    screenshot(page, "clips-replay-desktop.png")
    violations = axe_violations(page)
    assert not violations, describe_violations(violations)
    # Too long: the server's sentence shows next to the input.
    page.fill("#clip-end", "90")
    page.click("#clip-button")
    wait_js(page, "() => document.body.innerText.includes('at most 60 seconds')", UI_MS,
            what="the too-long clip's message")

    page.fill("#clip-end", "3")
    page.click("#clip-list a:has-text('The best two seconds')")
    page.wait_for_url(f"{base}/c/*")
    assert page.text_content("#clip-title") == "The best two seconds"
    assert page.get_attribute("#clip-space-link", "href") == f"/s/{space['id']}"
    page.wait_for_selector("#clip-cues li", timeout=UI_MS)
    assert "A tone worth clipping." in page.text_content("#clip-cues")
    played = page.evaluate("""async () => {
        const audio = document.getElementById('clip-audio');
        await audio.play();
        await new Promise((done) => setTimeout(done, 1200));
        return { time: audio.currentTime, duration: audio.duration, error: audio.error };
    }""")
    assert played["error"] is None and played["time"] > 0.5, played
    assert abs(played["duration"] - 2.0) < 0.1, played
    screenshot(page, "clips-page-desktop.png")
    violations = axe_violations(page)
    assert not violations, describe_violations(violations)

    page.set_viewport_size(PHONE)
    screenshot(page, "clips-page-phone.png")
    violations = axe_violations(page)
    assert not violations, describe_violations(violations)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    page.go_back()
    page.wait_for_selector("#clip-form:not([hidden])", timeout=UI_MS)
    screenshot(page, "clips-replay-phone.png")
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    host.close()
