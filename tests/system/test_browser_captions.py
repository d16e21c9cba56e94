"""Captions in a real browser, by content: the host goes live from Chromium whose fake
microphone speaks known sentences (espeak-ng); an anonymous listener's Space page shows
those words labelled with the host's name, can hide them (CC), and the host has the
switch for everyone; once the Space ends, the listener's page shows the transcript, and
a click on a line seeks the replay there. Screenshots at 1280x900 and 390x844, axe."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from townhall.testing.audio import write_wav
from townhall.testing.browser import axe_violations, describe_violations
from townhall.testing.servers import MANY_SIGNUPS, Server, start_server, stop_server
from townhall.testing.speech import RATE, SENTENCES, Utterance, espeak, wer, with_pauses, words
from townhall.testing.waiting import wait_until
from tests.system.test_browser import (CHROMIUM, CONNECT_TIMEOUT_MS, chromium_args, new_page,
                                       screenshot, sign_up_and_create, wait_js)

import faster_whisper  # noqa: E402,F401  (make setup installs it: missing, this fails)
pytestmark = pytest.mark.browser
if shutil.which("espeak-ng") is None:  # never a silent skip: make setup installs it
    pytest.fail("espeak-ng is missing: run `make setup`", pytrace=False)

SPOKEN = SENTENCES[:2]
CAPTION_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def captioned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("captions-browser"), "serve",
                       extra_env={**MANY_SIGNUPS, "TOWNHALL_CAPTIONS": "true",
                                  "TOWNHALL_CAPTIONS_MAX_SPACES": "1"})
    yield srv
    stop_server(srv)
    assert "Traceback" not in srv.log(), srv.log()[-5000:]


@pytest.fixture
def speaking_browser(tmp_path: Path) -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run `make setup` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    pcm, _ = with_pauses([Utterance(t, espeak(t)) for t in SPOKEN], pause=2.0)
    wav = write_wav(tmp_path / "speech.wav", pcm, RATE)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=chromium_args(wav))
        try:
            yield browser
        finally:
            browser.close()


def _final_lines(page) -> list[str]:
    return page.eval_on_selector_all("#captions-lines .caption-line[data-final='1']",
                                     "lines => lines.map(l => l.textContent)")


def test_listener_sees_who_said_what_then_the_transcript(captioned: Server,
                                                         speaking_browser) -> None:
    base = captioned.base_url.rstrip("/")
    host = new_page(speaking_browser, "host", viewport={"width": 1280, "height": 900})
    space_id = sign_up_and_create(host, base, "Captioned town hall")
    host_name = httpx.get(f"{base}/api/spaces/{space_id}").json()["host"]["username"]
    # Original sound: the browser's noise suppression would take synthetic speech for noise.
    host.goto(f"{base}/s/{space_id}?original_sound=1")
    host.wait_for_selector("#go-live-button:not([hidden])")
    host.click("#go-live-button")
    wait_js(host, "() => window.townhallPublisher.state === 'connected'", CONNECT_TIMEOUT_MS,
            what="the host's WHIP connection")
    host.wait_for_selector("#captions-switch-row:not([hidden])")
    assert host.is_checked("#captions-switch")

    listener = new_page(speaking_browser, "listener", viewport={"width": 1280, "height": 900})
    listener.goto(f"{base}/s/{space_id}")
    listener.wait_for_selector("#captions-card:not([hidden])")
    assert listener.is_hidden("#captions-switch-row"), "only the host and co-hosts switch"
    # Three finished lines: the fake microphone loops the WAV, so they are our sentences,
    # and at least one is heard from its start (a pause may split another in two).
    try:
        wait_js(listener, "() => document.querySelectorAll(\"#captions-lines .caption-line[data-final='1']\").length >= 3",
                CAPTION_TIMEOUT_MS, what="three finished caption lines")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; captions: {listener.inner_html('#captions-card')}") from None
    lines = _final_lines(listener)
    assert all(line.startswith(f"{host_name}: ") for line in lines), lines
    # The fake microphone loops the WAV from wherever it is when the page starts: the
    # lines may come in either order, and the first may be the end of a sentence. So:
    # every line's words are our words, and one line is a whole sentence of ours. The
    # first line may begin mid-word ("town hall meeting" cut to "an out and all
    # meeting" in one CI run), so only its second half is judged.
    vocabulary = set(words(" ".join(SPOKEN)))
    for number, line in enumerate(lines):
        said = words(line.split(": ", 1)[1])
        judged = said[len(said) // 2:] if number == 0 else said
        assert judged and sum(w in vocabulary for w in judged) / len(judged) >= 0.7, lines
    assert any(min(wer(s, line.split(": ", 1)[1]) for s in SPOKEN) <= 0.5 for line in lines), lines
    announced = listener.text_content("#captions-announce")
    assert announced and announced.startswith(f"{host_name}: ")
    assert listener.get_attribute("#captions-announce", "aria-live") == "polite"
    screenshot(listener, "captions-listener-desktop.png")
    violations = axe_violations(listener)
    assert not violations, describe_violations(violations)

    listener.set_viewport_size({"width": 390, "height": 844})
    screenshot(listener, "captions-listener-phone.png")
    listener.click("#captions-toggle")  # CC off for this listener only
    assert listener.is_hidden("#captions-lines")
    assert listener.get_attribute("#captions-toggle", "aria-pressed") == "false"
    listener.click("#captions-toggle")
    assert listener.is_visible("#captions-lines")

    # The Space ends: the transcript, following the replay; a click seeks there.
    host.once("dialog", lambda dialog: dialog.accept())
    host.click("#end-button")
    listener.set_viewport_size({"width": 1280, "height": 900})
    # Polled from here (an async function's promise is truthy at once: a wait for it
    # in the page would not wait).
    wait_until(lambda: listener.evaluate(f"""async () => {{
        const r = await fetch('/api/spaces/{space_id}/transcript.json');
        return r.ok && (await r.json()).final;
    }}"""), "the final transcript", timeout=90)
    listener.reload()
    listener.wait_for_selector("#transcript-card:not([hidden]) .transcript-line")
    texts = listener.eval_on_selector_all(".transcript-line", "ls => ls.map(l => l.textContent)")
    assert all(f"{host_name}: " in t for t in texts), texts
    assert listener.get_attribute("#transcript-srt", "href").endswith("/transcript.srt")
    target = listener.evaluate(f"""async () => (await (await fetch(
        '/api/spaces/{space_id}/transcript.json')).json()).segments.at(-1).start""")
    listener.click(".transcript-line >> nth=-1")
    wait_js(listener, """t => window.townhallPlayer.audio.currentTime >= t - 0.5
            && document.querySelector(".transcript-line[aria-current='true']")""",
            30_000, arg=target, what="the replay at the clicked line, highlighted")
    screenshot(listener, "transcript-replay-desktop.png")
    violations = axe_violations(listener)
    assert not violations, describe_violations(violations)
