"""Where a listener lands behind live when it joins, and whether it is the same every time.

    .venv/bin/python -m benchmarks.join_distance [--joins 6] [--settle 20]

A speaker (aiortc WHIP publisher) sends a short tone burst every second for the whole
run. In each round, one listener per path opens the Space's own page in Chromium
(Debian's, headless), at a random moment (so joins fall at every phase of the 2.048 s
HLS segment, the 0.256 s part and the 8.192 s DASH segment):

  * LL-HLS through the nginx edge (`?player=hls`: hls.js in low-latency mode, which
    plays up to 5 % faster to catch up to its target);
  * LL-HLS straight from the origin (the same page and player, no edge): what the edge
    and its cache lock add;
  * LL-DASH through Varnish (dash.js, the default player: the manifest's 1.5 s target).

Each join's distance from live is measured by content: the p50, over a few seconds, of
its bursts' delays (sent by the speaker -> heard in the page), "on join" (its first
WINDOW seconds of playback) and "settled" (its last WINDOW seconds of --settle). Printed
per path: every join's distances, their min / p50 / max and the spread (max - min): the
same distance on every join means a small spread.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

from benchmarks._common import (
    Deadline,
    live_space,
    log,
    print_table,
    running_server,
    signed_in_client,
    stage,
)
from benchmarks.glass_to_glass import CHROMIUM, CHROMIUM_ARGS
from townhall.media import dash
from townhall.testing.audio import (
    ONSET_THRESHOLD,
    QUIET_BEFORE_ONSET,
    MarkerTrain,
    tag_of_frequency,
)
from townhall.testing.browser import with_burst_helpers
from townhall.testing.edge import NginxEdge
from townhall.testing.varnish import VarnishEdge
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher

MAX_JOINS = 20
MIN_SETTLE, MAX_SETTLE = 12.0, 120.0
# Seconds of bursts (one a second) a distance is the median of.
WINDOW = 4.0
# A page must play within this long of being opened.
PLAY_TIMEOUT = 30.0

LISTEN = with_burst_helpers("cfg", """
  const p = window.townhallPlayer;
  window.joined = {mode: p.mode, playingSince: performance.timeOrigin + performance.now()};
  window.onsets = watchBursts(tapPlayer(p), cfg, () => ({latency: p.latency()}));""")


@dataclass
class ListenPath:
    name: str
    url: str  # the Space page, player chosen by the query
    mode: str  # the player mode the page must use
    joins: list[dict[str, float]] = field(default_factory=list)


async def open_listener(browser: Browser, url: str, mode: str, deadline: Deadline) -> Page:
    """The Space page playing live in `mode`, with the burst finder hung after its meter."""
    page = await browser.new_page()
    await page.goto(url)
    until = time.monotonic() + PLAY_TIMEOUT
    started = None
    while True:
        deadline.check("waiting for a listener to play")
        state = await page.evaluate("""() => { const p = window.townhallPlayer;
            return p ? {mode: p.mode, t: p.audio.currentTime, meter: Boolean(p._analyser)} : {}; }""")
        if state.get("mode") not in (None, mode):
            raise RuntimeError(f"{url} plays with {state['mode']}, not {mode}")
        if state.get("meter") and state.get("t", 0) > 0:
            started = state["t"] if started is None else started
            if state["t"] > started + 0.1:
                break
        if time.monotonic() > until:
            raise TimeoutError(f"{url} did not start playing in {PLAY_TIMEOUT:g} s: {state}")
        await asyncio.sleep(0.05)
    await page.evaluate(LISTEN, {"threshold": ONSET_THRESHOLD, "quietMs": QUIET_BEFORE_ONSET * 1000})
    return page


def delays_between(onsets: list[dict], markers: MarkerTrain, lo: float, hi: float) -> list[float]:
    """Delays (s) of the bursts heard between lo and hi (unix seconds)."""
    out = []
    for onset in onsets:
        at = onset["detected"] / 1000
        tag = tag_of_frequency(onset.get("frequency", 0.0))
        if lo <= at < hi and tag is not None and (m := markers.match(at, tag)) is not None:
            out.append(m[1])
    return out


async def one_round(browser: Browser, paths: list[ListenPath], markers: MarkerTrain, settle: float,
                    deadline: Deadline) -> None:
    pages: dict[str, Page] = {}
    try:
        for path in paths:
            await asyncio.sleep(random.uniform(0, dash.SEGMENT_SECONDS / 2))
            pages[path.name] = await open_listener(browser, path.url, path.mode, deadline)
        await asyncio.sleep(settle)
        for path in paths:
            page = pages[path.name]
            joined = await page.evaluate("window.joined")
            onsets = await page.evaluate("window.onsets")
            since = joined["playingSince"] / 1000
            first = delays_between(onsets, markers, since, since + WINDOW)
            last = delays_between(onsets, markers, since + settle - WINDOW, since + settle)
            if not first or not last:
                raise RuntimeError(f"{path.name}: no bursts heard ({len(onsets)} onsets)")
            path.joins.append({"join": statistics.median(first), "settled": statistics.median(last),
                               "latency": onsets[-1]["latency"]})
            log(f"  {path.name}: on join {1000 * path.joins[-1]['join']:.0f} ms, settled "
                f"{1000 * path.joins[-1]['settled']:.0f} ms behind the speaker (player's "
                f"own view {path.joins[-1]['latency']:.2f} s)")
    finally:
        for page in pages.values():
            await page.close()


async def measure(base_url: str, nginx_url: str, varnish_url: str, joins: int, settle: float,
                  deadline: Deadline) -> list[ListenPath]:
    host = signed_in_client(base_url, "joinhost")
    space = live_space(host, "join distance")
    creds = stage(host, space["id"])
    seconds = joins * (settle + 3 * dash.SEGMENT_SECONDS / 2 + 10) + 30
    markers = MarkerTrain(count=int(seconds), period=1.0, delay=1.0)
    track = SyntheticTrack(markers.source)
    track.on_frame = markers.on_frame
    speaker = WhipPublisher(creds["whip_url"], creds["token"], track)
    page = f"/s/{space['id']}"
    paths = [ListenPath("LL-HLS via nginx (hls.js)", f"{nginx_url}{page}?player=hls", "hls.js"),
             ListenPath("LL-HLS from the origin (hls.js)", f"{base_url}{page}?player=hls", "hls.js"),
             ListenPath("LL-DASH via Varnish (dash.js)", f"{varnish_url}{page}", "dash.js")]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        await speaker.start()
        try:
            for n in range(joins):
                log(f"round {n + 1} of {joins}")
                await one_round(browser, paths, markers, settle, deadline)
        finally:
            await speaker.stop()
            await browser.close()
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--joins", type=int, default=6, help=f"joins per path (1..{MAX_JOINS})")
    parser.add_argument("--settle", type=float, default=20.0,
                        help="seconds each listener plays before its settled distance")
    args = parser.parse_args()
    if not 1 <= args.joins <= MAX_JOINS or not MIN_SETTLE <= args.settle <= MAX_SETTLE:
        parser.error(f"--joins 1..{MAX_JOINS}, --settle {MIN_SETTLE:g}..{MAX_SETTLE:g}")
    deadline = Deadline(args.joins * (args.settle + 3 * (dash.SEGMENT_SECONDS / 2 + PLAY_TIMEOUT))
                        + 120)
    with running_server("serve") as server, tempfile.TemporaryDirectory(prefix="joins-") as tmp:
        origin = server.base_url.removeprefix("http://")
        with NginxEdge([origin], Path(tmp) / "nginx") as nginx, \
                VarnishEdge([origin], Path(tmp) / "varnish") as varnish:
            log(f"origin {server.base_url}, nginx {nginx.url}, Varnish {varnish.url}")
            paths = asyncio.run(measure(server.base_url, nginx.url, varnish.url, args.joins,
                                        args.settle, deadline))
    print(f"\nDistance behind the speaker where a listener lands, {args.joins} joins per path "
          f"(p50 of its bursts' delays over {WINDOW:g} s; ms)")
    rows = []
    for path in paths:
        for when in ("join", "settled"):
            values = sorted(1000 * j[when] for j in path.joins)
            rows.append([path.name, "on join" if when == "join" else f"after {args.settle:g} s",
                         " ".join(f"{v:.0f}" for v in values), f"{values[0]:.0f}",
                         f"{statistics.median(values):.0f}", f"{values[-1]:.0f}",
                         f"{values[-1] - values[0]:.0f}"])
    print_table(["path", "when", "each join", "min", "p50", "max", "spread"], rows)


if __name__ == "__main__":
    main()
