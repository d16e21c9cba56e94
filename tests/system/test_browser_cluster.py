"""Failover as users see it (issue #4): real Chromium pages through the nginx edge while
the origin mixing the Space is SIGKILLed.

Redis + PostgreSQL + two `townhall serve` origins + the nginx edge on loopback (the
fixture of tests/system/test_failover.py). Everything a page or this test does goes through the
edge (pages, API, live events, beacons, WHIP, HLS); only the kill and /healthz go to the
origins. The host (Chromium, 440 Hz fake microphone, capture processing off) goes live
from the Space page; an anonymous listener's page plays it with hls.js and shows the
live listener count. Then the origin owning the media is killed, and asserted: the host's
page publishes again by itself (publisher.js `_reconnect`, no click), the other origin
mixes the Space, the listener's page keeps playing across the discontinuity with the
same hls.js instance (no reload, no error shown) and hears the tone again, and the live
HLS read through the edge carries 440 Hz again. Printed: seconds from the kill to the
host's publisher connected again, and the listener's largest stall.

Debian's Chromium (/usr/bin/chromium) driven by Playwright: never `playwright install`.
Screenshots for humans go to test-artifacts/ at the repository root.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from townhall.testing.audio import dominant_frequency
from townhall.testing.browser import launched_chromium, wait_until
from tests.system.cluster_fixtures import cluster_behind_edge  # noqa: F401 (a fixture)
from townhall.testing.servers import Server, signed_in_client
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
from tests.system.test_cluster import Cluster
from townhall.tools.clients.hls import HlsReader
from townhall.testing.edge import NginxEdge

pytestmark = pytest.mark.browser

TONE_HZ = 440.0
TONE_TOLERANCE_HZ = 5.0
SESSION_COOKIE = "townhall_session"
UI_TIMEOUT_MS = 15_000
# From the kill to the host's page publishing again, and to the listener's page playing
# the tone again: the lease lapses within 2 s, the browser notices the lost connection
# (ICE consent, then publisher.js's grace), and re-publishes through the edge.
RECOVERY_TIMEOUT_MS = 30_000
# Bounds asserted on the figures, which are printed. The host: the 5 s (measured
# 2.4-2.7 s: the lease lapses in 2 s, publisher.js hears no mix-minus for 1.5 s). The
# listener's longest stall (measured 3.5-5.3 s: the ~0.8 s buffer runs out, the new
# owner's playlist has a whole segment ~2 s after it took over, hls.js reloads): with
# room for a 2-core machine running two browsers, two origins, Redis, PostgreSQL, nginx.
HOST_BACK_SECONDS = 5.0
LISTENER_STALL_SECONDS = 8.0
# Seconds the listener must play past the moment the host was connected again.
PLAYED_AFTER_RECOVERY = 3.0
HEARD_SECONDS = 3.0


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[object]:
    with launched_chromium(CHROMIUM, chromium_args, tmp_path, {TONE_HZ: 60.0}) as browsers:
        yield browsers[TONE_HZ]


def live_spaces(origin: Server) -> int:
    return int(httpx.get(f"{origin.base_url}/healthz", timeout=5).json()["live_spaces"])


# In the host's page: every publisher state with the time it was entered (ms since epoch).
RECORD_PUBLISHER_STATES = """() => {
    const p = window.townhallPublisher;
    const forward = p.onChange;
    window.publisherStates = [[Date.now(), p.state]];
    p.onChange = (x) => {
        const last = window.publisherStates[window.publisherStates.length - 1];
        if (last[1] !== x.state) window.publisherStates.push([Date.now(), x.state]);
        forward(x);
    };
}"""

# In the listener's page: how long currentTime stood still at most (sampled every 50 ms),
# hls.js errors, and the hls.js instance and a marker, to tell a reload or a new player.
WATCH_PLAYBACK = """() => {
    const player = window.townhallPlayer;
    const watch = {hls: player.hls, marker: 'same page', errors: [], maxStall: 0,
                   last: player.audio.currentTime, lastAt: performance.now(), stallEndedAt: 0};
    window.playbackWatch = watch;
    player.hls.on('hlsError', (_e, d) =>
        watch.errors.push({details: d.details, fatal: d.fatal, at: Date.now()}));
    watch.timeline = [];
    // What hls.js and the element did, for a failure's message.
    const note = (what) => watch.timeline.push([Date.now(), what, player.audio.currentTime]);
    player.hls.on('hlsLevelLoaded', (_e, d) =>
        note(`playlist ${d.details.startSN}..${d.details.endSN} cc${d.details.endCC}`));
    player.hls.on('hlsFragLoaded', (_e, d) =>
        note(`part ${d.frag.sn}.${d.part ? d.part.index : '-'} cc${d.frag.cc}`));
    player.hls.on('hlsError', (_e, d) => note(`error ${d.details}${d.fatal ? ' (fatal)' : ''}`));
    for (const name of ['waiting', 'playing', 'seeking', 'stalled', 'error']) {
        player.audio.addEventListener(name, () => note(name));
    }
    setInterval(() => {
        const now = performance.now();
        const t = player.audio.currentTime;
        if (t > watch.last) {
            const stall = (now - watch.lastAt) / 1000;
            if (stall > watch.maxStall) { watch.maxStall = stall; watch.stallEndedAt = Date.now(); }
            watch.last = t;
            watch.lastAt = now;
        }
    }, 50);
}"""

PLAYBACK_STATE = """() => {
    const w = window.playbackWatch, p = window.townhallPlayer;
    const stall = (performance.now() - w.lastAt) / 1000;
    return {timeline: w.timeline, sameHls: p.hls === w.hls, marker: w.marker, errors: w.errors,
            maxStall: Math.max(w.maxStall, stall), stallEndedAt: w.stallEndedAt,
            currentTime: p.audio.currentTime, paused: p.audio.paused, error: p.error,
            status: document.getElementById('player-status').textContent,
            pageError: document.getElementById('error').hidden ? null
                       : document.getElementById('error').textContent};
}"""


async def _read_tone(url: str, seconds: float) -> float:
    async with httpx.AsyncClient() as client:
        reader = HlsReader(url, client)
        await reader.start(parts_back=0)
        await reader.read_seconds(seconds, timeout=20)
    pcm, _ = reader.decode()
    return dominant_frequency(pcm[-int(seconds * 0.7 * 48000):])


def tone_in_live_hls(url: str, seconds: float = HEARD_SECONDS) -> float:
    """Dominant frequency of the live HLS from now on (HlsReader, in a thread of its own:
    Playwright's sync API owns this thread's event loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _read_tone(url, seconds)).result(timeout=60)


def test_listener_and_host_pages_survive_the_loss_of_the_mixing_origin(
        cluster_behind_edge: tuple[Cluster, NginxEdge], chromium) -> None:  # noqa: F811
    cluster, edge = cluster_behind_edge
    base = edge.url

    # --- The host (API through the edge) creates the Space; the page goes live ------------
    host_api = signed_in_client(base, "host")
    host_api.headers["Origin"] = base
    created = host_api.post("/api/spaces", json={"title": "Survives a node, in a browser"})
    assert created.status_code == 201, created.text
    space_id = created.json()["id"]
    host_id = host_api.get("/api/me").json()["id"]

    host = new_page(chromium, "host", viewport={"width": 1280, "height": 900})
    host.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": host_api.cookies[SESSION_COOKIE], "url": base}])
    host.goto(f"{base}/s/{space_id}?original_sound=1")
    host.wait_for_selector("#go-live-button:not([hidden])")
    assert host.is_checked("#original-sound"), "capture processing must be off"
    host.click("#go-live-button")
    wait_js(host, "() => ['connected', 'failed'].includes(window.townhallPublisher.state)",
            CONNECT_TIMEOUT_MS, what="the host's WHIP connection")
    assert host.evaluate("() => townhallPublisher.state") == "connected", host.evaluate(
        "() => townhallPublisher.error")
    host.evaluate(RECORD_PUBLISHER_STATES)
    space = host_api.get(f"/api/spaces/{space_id}").json()
    assert space["state"] == "live", space
    hls_url = f"{base}/hls/{space_id}/live.m3u8"

    # --- An anonymous listener's page plays it (hls.js) and counts itself ------------------
    listener = new_page(chromium, "listener", viewport={"width": 390, "height": 844},
                        device_scale_factor=2, is_mobile=True, has_touch=True)
    # LL-HLS (hls.js) here; the LL-DASH player's failover: test_browser_dash.py.
    listener.goto(f"{base}/s/{space_id}?player=hls")
    wait_js(listener, "() => window.townhallPlayer && window.townhallPlayer.kind === 'live'",
            PLAY_TIMEOUT_MS, what="the live player")
    assert listener.evaluate("() => townhallPlayer.mode") == "hls.js"
    assert listener.evaluate("() => townhallPlayer.url").startswith(f"{base}/hls/"), \
        "the listener must play through the edge"
    wait_playing(listener, 2.0, PLAY_TIMEOUT_MS, "live playback")
    wait_js(listener, "min => window.townhallPlayer.level() > min", PLAY_TIMEOUT_MS,
            arg=AUDIBLE_RMS, what="the host's tone in the listener's page")
    # The live count comes from the listener's own beacons, through the edge, back over
    # the page's live events.
    wait_js(listener, "() => parseInt(document.getElementById('listener-count').textContent) >= 1",
            UI_TIMEOUT_MS, what="the live listener count")
    count_text = listener.inner_text("#listener-count")
    assert re.fullmatch(r"\d+ listening", count_text), count_text
    # The host's page shows them on stage, whichever origin answers its API calls.
    on_stage = f"#speakers li[data-user-id='{host_id}'].on-stage"
    host.wait_for_selector(on_stage, timeout=UI_TIMEOUT_MS)
    screenshot(host, "cluster-host-live.png")
    screenshot(listener, "cluster-listener-live.png")

    # --- Kill the origin that mixes the Space -----------------------------------------------
    owners = [o for o in cluster.origins if live_spaces(o) == 1]
    assert len(owners) == 1, [live_spaces(o) for o in cluster.origins]
    owner = owners[0]
    survivor = next(o for o in cluster.origins if o is not owner)
    assert live_spaces(survivor) == 0
    listener.evaluate(WATCH_PLAYBACK)
    played_before_kill = listener.evaluate("() => townhallPlayer.audio.currentTime")
    killed_at = time.time()
    owner.process.send_signal(signal.SIGKILL)
    owner.process.wait(timeout=10)

    # The host's page notices and publishes again by itself, through the edge, to the
    # origin that took the Space over.
    wait_js(host, "since => (window.publisherStates || []).some(([t, s]) => t > since"
                  " && s === 'connected') && window.townhallPublisher.state === 'connected'",
            RECOVERY_TIMEOUT_MS, arg=killed_at * 1000, what="the host's publisher reconnecting")
    states = host.evaluate("() => window.publisherStates")
    back_at = next(t for t, s in states if t > killed_at * 1000 and s == "connected") / 1000
    host_back = back_at - killed_at
    assert host.evaluate("() => townhallPublisher.error") is None
    assert host.is_hidden("#error"), host.inner_text("#error")
    wait_until(lambda: live_spaces(survivor) == 1, "the survivor to mix the Space", 10)

    # The listener's page kept going: same page, same hls.js, no error, the tone again.
    wait_js(listener, "t => window.townhallPlayer.audio.currentTime > t", RECOVERY_TIMEOUT_MS,
            arg=listener.evaluate("() => townhallPlayer.audio.currentTime") + PLAYED_AFTER_RECOVERY,
            what="the listener's playback after the failover")
    wait_js(listener, "min => window.townhallPlayer.level() > min", PLAY_TIMEOUT_MS,
            arg=AUDIBLE_RMS, what="the host's tone in the listener's page after the failover")
    playback = listener.evaluate(PLAYBACK_STATE)
    timeline = "\n".join(f"{t / 1000 - killed_at:+6.2f} s  {what}  (currentTime {ct:.2f})"
                         for t, what, ct in playback.pop("timeline") if t / 1000 > killed_at - 1)
    assert playback["marker"] == "same page" and playback["sameHls"], (playback, timeline)
    assert not playback["paused"] and playback["error"] is None, (playback, timeline)
    assert playback["pageError"] is None, (playback, timeline)
    assert playback["status"].startswith("● Live"), (playback, timeline)
    assert not [e for e in playback["errors"] if e["fatal"]], timeline
    played = playback["currentTime"] - played_before_kill
    host.wait_for_selector(on_stage, timeout=UI_TIMEOUT_MS)
    host.wait_for_selector("#stage-status[data-state='connected']", timeout=UI_TIMEOUT_MS)
    listener.wait_for_selector(on_stage, timeout=UI_TIMEOUT_MS)

    # The tone is in the live HLS again, read through the edge.
    frequency = tone_in_live_hls(hls_url)
    assert abs(frequency - TONE_HZ) <= TONE_TOLERANCE_HZ, f"dominant {frequency:.1f} Hz"

    screenshot(host, "cluster-host-after-failover.png")
    screenshot(listener, "cluster-listener-after-failover.png")
    transitions = " -> ".join(f"{s}@{t / 1000 - killed_at:+.2f}s" for t, s in states)
    print(f"\nhost's publisher connected again {host_back:.2f} s after the kill ({transitions}); "
          f"listener's largest stall {playback['maxStall']:.2f} s, played {played:.1f} s since "
          f"the kill, hls.js errors: {[e['details'] for e in playback['errors']]}; "
          f"live HLS after recovery: {frequency:.1f} Hz")
    assert host_back <= HOST_BACK_SECONDS, f"the host needed {host_back:.2f} s"
    assert playback["maxStall"] <= LISTENER_STALL_SECONDS, (playback, timeline)

    assert host_api.post(f"/api/spaces/{space_id}/end").status_code == 200
    host_api.close()
