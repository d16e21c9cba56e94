"""Speaker -> listener latency as a listener hears it ("glass to glass"), on loopback.

Speaker: an aiortc WHIP publisher sending silence with a short tone burst every second
(send time of each burst recorded). Listeners, all started before the speaker:

  * Chromium (Debian's /usr/bin/chromium, headless, via Playwright) playing the Space's
    LL-HLS with hls.js in low-latency mode; the <audio> element goes through Web Audio
    into an AnalyserNode polled every 5 ms. A burst's onset is the first poll whose
    buffer holds a sample over the threshold after >= 300 ms of quiet; the burst's
    frequency (read 35 ms later) says which marker it is.
  * An HlsReader in this process (blocking playlist reloads, then each part): onset =
    fetch time of the part holding it + the onset's offset within the part.

  * With --dash, also Chromium on the Space's own page (/s/{id}: player.js, dash.js
    over LL-DASH, as a listener gets it) loaded through a Varnish edge in front of the
    server (townhall/edge/varnish.py's VCL); an analyser hung after the player's meter
    finds onsets the same way. Started before the speaker too, so both browser rows
    hear the same markers in the same run.

Both use the same machine clock as the speaker. Also shown: the latency a player would
derive from EXT-X-PROGRAM-DATE-TIME (now - PDT of what it plays), which leaves out the
speaker -> mixer part, and how far the server's PDT stamps are from the send time.

    .venv/bin/python -m benchmarks.glass_to_glass [--markers 20] [--dash]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from playwright.async_api import Browser, Page, async_playwright

from benchmarks._common import (
    RATE,
    Deadline,
    live_space,
    log,
    print_table,
    running_server,
    signed_in_client,
    stage,
    summary,
)
from townhall.testing.audio import (
    ONSET_THRESHOLD,
    QUIET_BEFORE_ONSET,
    MarkerTrain,
    marker_onsets,
    tag_of_frequency,
)
from townhall.tools.clients.hls import FetchedPart, HlsReader, decode_fmp4
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher
from townhall.media.fmp4 import FragmentSplitter
from townhall.testing.browser import WATCH_BURSTS_JS, with_burst_helpers
from townhall.testing.varnish import VarnishEdge

TARGET_P50_S = 2.0
MAX_MARKERS = 40
TIME_LIMIT = 60.0  # seconds from the server being up to the last marker heard
# With --dash: the Space page's dash.js player starts after the hls.js page.
DASH_EXTRA_TIME = 30.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-quic",
]
# How long after the last marker was sent the listeners may still hear it.
HEAR_MARGIN = 5.0

# The measuring page: hls.js (served by Townhall at /vendor/hls.mjs) -> <audio> ->
# Web Audio analyser; bursts found by townhall/testing/browser.py's watchBursts go to
# window.onsets; window.g2g has state and errors.
PAGE_SCRIPT = """
import Hls from "/vendor/hls.mjs";
const cfg = JSON.parse(document.getElementById("g2g-config").textContent);
const g2g = window.g2g = { state: "loading", errors: [], sampleRate: 0, outputLatency: 0 };

const audio = document.createElement("audio");
document.body.appendChild(audio);
const hls = window.hls = new Hls({ lowLatencyMode: true });
hls.on(Hls.Events.ERROR, (_, d) => g2g.errors.push(d.details + (d.fatal ? " (fatal)" : "")));
hls.on(Hls.Events.MANIFEST_PARSED, () => {
  audio.play().then(() => { g2g.state = "playing"; })
              .catch((e) => { g2g.errors.push("play: " + e); });
});
hls.loadSource(cfg.url);
hls.attachMedia(audio);

const ctx = new AudioContext();
const analyser = ctx.createAnalyser();
analyser.fftSize = 2048;            // ~43 ms at 48 kHz: holds a whole 30 ms burst
analyser.smoothingTimeConstant = 0; // frequency data of this window only
ctx.createMediaElementSource(audio).connect(analyser);
analyser.connect(ctx.destination);  // the graph must reach the output to be pulled
g2g.sampleRate = ctx.sampleRate;

window.onsets = watchBursts(analyser, cfg, (t) => {
  const playing = hls.playingDate ? hls.playingDate.getTime() : null;
  return { pdtLatency: playing === null ? null : t - playing, hlsLatency: hls.latency };
}, () => {
  g2g.outputLatency = ctx.outputLatency || 0;
  g2g.currentTime = audio.currentTime;
});
""" + WATCH_BURSTS_JS


# The LL-DASH listener is the Space's own page (player.js drives dash.js with the site's
# settings), with an analyser of our own after the player's meter (tapPlayer); bursts
# found as in the hls.js page, with dash.js's own view of its latency at each onset.
DASH_LISTEN_SCRIPT = with_burst_helpers("cfg", """
  const p = window.townhallPlayer;
  const g2g = window.g2g = { state: "playing", errors: [], sampleRate: p._ctx.sampleRate, outputLatency: 0 };
  window.onsets = watchBursts(tapPlayer(p), cfg, () => ({ dashLatency: p.latency() }), () => {
    g2g.outputLatency = p._ctx.outputLatency || 0;
    g2g.currentTime = p.audio.currentTime;
    if (p.error && g2g.errors[g2g.errors.length - 1] !== p.error) g2g.errors.push(p.error);
  });""")


# --- the Chromium listeners ------------------------------------------------------------


async def open_listener(browser: Browser, base_url: str, hls_url: str) -> Page:
    # The measuring page is an inline module: the site's Content-Security-Policy (rightly)
    # refuses inline scripts, so this context ignores it.
    context = await browser.new_context(bypass_csp=True)
    page = await context.new_page()
    page.on("console", lambda m: m.type == "error"
            and log(f"chromium console: {m.text} {m.location.get('url', '')}"))
    # Same origin as the app, so the module import and the HLS requests are plain.
    await page.goto(f"{base_url}/healthz")
    config = {"url": hls_url, "threshold": ONSET_THRESHOLD, "quietMs": QUIET_BEFORE_ONSET * 1000}
    await page.evaluate(
        """(cfg) => {
            document.body.innerHTML = "";
            const c = document.createElement("script");
            c.type = "application/json"; c.id = "g2g-config"; c.textContent = cfg;
            document.body.appendChild(c);
        }""",
        json.dumps(config),
    )
    await page.add_script_tag(content=PAGE_SCRIPT, type="module")
    return page


async def open_dash_listener(browser: Browser, edge_url: str, space_id: str,
                             deadline: Deadline) -> Page:
    """The Space's page through the edge, playing over dash.js, with the onset finder."""
    page = await browser.new_page()
    page.on("console", lambda m: m.type == "error"
            and log(f"chromium (dash) console: {m.text} {m.location.get('url', '')}"))
    await page.goto(f"{edge_url}/s/{space_id}")
    started = None
    for _ in range(400):
        deadline.check("waiting for the LL-DASH page to play")
        state = await page.evaluate("""() => { const p = window.townhallPlayer;
            return p ? {mode: p.mode, t: p.audio.currentTime, meter: Boolean(p._analyser)} : {}; }""")
        if state.get("mode") not in (None, "dash.js"):
            raise RuntimeError(f"the Space page plays with {state['mode']}, not dash.js")
        if state.get("mode") == "dash.js" and state.get("meter") and state.get("t", 0) > 0:
            if started is None:
                started = state["t"]
            elif state["t"] > started + 0.5:
                break
        await asyncio.sleep(0.25)
    else:
        raise TimeoutError("the LL-DASH page did not start playing")
    config = {"threshold": ONSET_THRESHOLD, "quietMs": QUIET_BEFORE_ONSET * 1000}
    await page.evaluate(DASH_LISTEN_SCRIPT, config)
    log(f"Chromium (dash.js, Space page via Varnish) playing: {await page.evaluate('townhallPlayer.url')}")
    return page


async def wait_playing(page: Page, deadline: Deadline) -> None:
    """Until hls.js plays and the media clock moves (the Space is emitting silence)."""
    first = None
    for _ in range(200):
        deadline.check("waiting for Chromium to play")
        g2g = await page.evaluate("window.g2g || {}")
        if g2g.get("state") == "playing":
            if first is None:
                first = g2g.get("currentTime", 0)
            elif g2g.get("currentTime", 0) > first + 0.5:
                log(f"Chromium playing (AudioContext {g2g['sampleRate']} Hz, "
                    f"outputLatency {g2g['outputLatency'] * 1000:.0f} ms); errors: {g2g['errors']}")
                return
        await asyncio.sleep(0.25)
    raise TimeoutError("Chromium did not start playing")


def browser_latencies(onsets: list[dict], markers: MarkerTrain) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"detected": [], "refined": [], "pdt": [], "hls.latency": [],
                                   "dash.latency": []}
    for onset in onsets:
        tag = tag_of_frequency(onset.get("frequency", 0.0))
        matched = markers.match(onset["detected"] / 1000, tag) if tag is not None else None
        if matched is None:
            continue
        _, latency = matched
        out["detected"].append(latency)
        out["refined"].append(latency - (onset["detected"] - onset["refined"]) / 1000)
        if onset.get("pdtLatency") is not None:
            out["pdt"].append(onset["pdtLatency"] / 1000)
        if onset.get("hlsLatency") is not None:
            out["hls.latency"].append(onset["hlsLatency"])
        if onset.get("dashLatency") is not None:
            out["dash.latency"].append(onset["dashLatency"])
    return out


# --- the HlsReader listener --------------------------------------------------------------


async def read_hls(reader: HlsReader, stop: asyncio.Event, deadline: Deadline) -> None:
    for _ in range(2000):  # parts are 0.256 s: 2000 is far beyond the time limit
        if stop.is_set() or deadline.left() <= 0:
            return
        await reader.read_next()


def part_start_pts(init: bytes, part: FetchedPart) -> int:
    splitter = FragmentSplitter()
    splitter.feed(init)
    fragments = splitter.feed(part.data)
    return fragments[0].base_decode_time


def reader_latencies(reader: HlsReader, markers: MarkerTrain) -> dict[str, list[float]]:
    """Onset time = fetch time of its part + offset within the part (from pts)."""
    pcm, frames = decode_fmp4(reader.init + b"".join(p.data for p in reader.parts))
    starts = [part_start_pts(reader.init, p) for p in reader.parts]
    # pts of each decoded sample: frames are contiguous chunks of the pcm.
    frame_offsets = np.cumsum([0] + [n for _, n in frames[:-1]])
    origin = pdt_origin(reader.parts, starts)
    out: dict[str, list[float]] = {"fetch": [], "pdt": [], "pdt-send": []}
    for onset, tag in marker_onsets(pcm):
        f = int(np.searchsorted(frame_offsets, onset, side="right") - 1)
        pts = frames[f][0] + (onset - frame_offsets[f])
        k = int(np.searchsorted(starts, pts, side="right") - 1)
        if k < 0:
            continue
        part, within = reader.parts[k], (pts - starts[k]) / RATE
        matched = markers.match(part.fetched_at + within, tag)
        if matched is None:
            continue
        index, latency = matched
        out["fetch"].append(latency)
        if origin is not None:
            onset_pdt = origin + pts / RATE
            out["pdt"].append(part.fetched_at + within - onset_pdt)
            out["pdt-send"].append(onset_pdt - markers.sent[index])
    return out


def pdt_origin(parts: list[FetchedPart], starts: list[int]) -> float | None:
    """The unix time the server's PDT gives pts 0 (PDT = origin + pts / rate).

    HlsReader leaves program_date_time None for parts of the segment still being
    written (the m3u8 package drops the PDT of a trailing parts-only segment), which
    is every part read at the live edge; the few with a PDT fix the origin for all.
    """
    known = [p.program_date_time - s / RATE for p, s in zip(parts, starts)
             if p.program_date_time is not None]
    return float(np.median(known)) if known else None


# --- the run -----------------------------------------------------------------------------


async def measure(base_url: str, count: int, deadline: Deadline,
                  edge_url: str | None = None) -> dict[str, object]:
    """Markers from the speaker, heard by Chromium + hls.js, the HlsReader and (with
    `edge_url`) Chromium + dash.js on the Space page through that edge."""
    host = signed_in_client(base_url, "g2ghost")
    space = live_space(host, "glass to glass")
    creds = stage(host, space["id"])
    markers = MarkerTrain(count=count, period=1.0, delay=2.0)
    track = SyntheticTrack(markers.source)
    track.on_frame = markers.on_frame
    speaker = WhipPublisher(creds["whip_url"], creds["token"], track)

    async with async_playwright() as playwright, httpx.AsyncClient() as client:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        stop = asyncio.Event()
        reader_task = None
        dash_page = None
        try:
            page = await open_listener(browser, base_url, space["hls_url"])
            await wait_playing(page, deadline)
            if edge_url is not None:
                dash_page = await open_dash_listener(browser, edge_url, space["id"], deadline)
            reader = HlsReader(space["hls_url"], client)
            await reader.start(parts_back=1)
            reader_task = asyncio.create_task(read_hls(reader, stop, deadline))
            await speaker.start()
            log(f"speaker connected; {count} markers, one per second, from t=2 s")
            listeners = {"hls.js": page, **({"dash.js": dash_page} if dash_page else {})}
            heard = dict.fromkeys(listeners, 0)
            while deadline.left() > 0:
                await asyncio.sleep(1.0)
                for name, listener in listeners.items():
                    onsets = await listener.evaluate("window.onsets")
                    for onset in onsets[heard[name]:]:
                        lat = browser_latencies([onset], markers)["detected"]
                        log(f"Chromium ({name}) heard a burst at {onset.get('frequency', 0):.0f} Hz: "
                            + (f"{lat[0]:.3f} s after it was sent" if lat else "unmatched"))
                    heard[name] = len(onsets)
                last = markers.last_sent
                if last is not None and time.time() > last + HEAR_MARGIN:
                    break
            else:
                log("time limit reached before every marker was heard")
            g2g = await page.evaluate("window.g2g")
            onsets = await page.evaluate("window.onsets")
            dash_g2g = await dash_page.evaluate("window.g2g") if dash_page else None
            dash_onsets = await dash_page.evaluate("window.onsets") if dash_page else []
        finally:
            stop.set()
            if reader_task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(reader_task, timeout=10)
            await speaker.stop()
            await browser.close()
    return {"chromium": browser_latencies(onsets, markers),
            "reader": reader_latencies(reader, markers), "sent": len(markers.sent),
            "errors": g2g["errors"],
            "dash": browser_latencies(dash_onsets, markers) if dash_g2g is not None else None,
            "dash_errors": dash_g2g["errors"] if dash_g2g is not None else None}


def row(label: str, values: list[float], target: str = "") -> list[object]:
    s = summary(values)
    return [label, s["n"], s["min"], s["p50"], s["p95"], s["max"], target]


def verdict(values: list[float]) -> str:
    p50 = summary(values)["p50"]
    return f"<= {TARGET_P50_S * 1000:.0f} ms ({'met' if p50 <= TARGET_P50_S else 'NOT met'})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--markers", type=int, default=20, help=f"markers to send (max {MAX_MARKERS})")
    parser.add_argument("--dash", action="store_true",
                        help="also Chromium on the Space page over LL-DASH (dash.js) through Varnish")
    args = parser.parse_args()
    count = max(1, min(args.markers, MAX_MARKERS))
    with running_server("serve") as server, contextlib.ExitStack() as stack:
        edge_url = None
        if args.dash:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="g2g-varnish-")))
            edge = stack.enter_context(
                VarnishEdge([server.base_url.removeprefix("http://")], workdir))
            edge_url = edge.url
            log(f"Varnish edge on {edge_url}")
        # The LL-DASH page starts (and converges) after the hls.js one: time for it.
        deadline = Deadline(TIME_LIMIT + (DASH_EXTRA_TIME if args.dash else 0))
        result = asyncio.run(measure(server.base_url, count, deadline, edge_url))
    chromium, reader, dash = result["chromium"], result["reader"], result["dash"]
    ms = lambda xs: [x * 1000 for x in xs]  # noqa: E731
    paths = "LL-HLS and LL-DASH via Varnish" if dash is not None else "LL-HLS"
    print(f"\nSpeaker -> listener latency over {paths} (loopback), {result['sent']} markers sent; "
          f"hls.js errors: {result['errors'] or 'none'}"
          + (f"; LL-DASH player errors: {result['dash_errors'] or 'none'}" if dash is not None else ""))
    rows = [
        row("Chromium + hls.js LL, analyser poll", ms(chromium["detected"]), verdict(chromium["detected"])),
        row("  same, onset back-dated in analyser", ms(chromium["refined"])),
    ]
    if dash is not None:
        rows += [
            row("Chromium + dash.js (Space page, Varnish)", ms(dash["detected"]), verdict(dash["detected"])),
            row("  same, onset back-dated in analyser", ms(dash["refined"])),
        ]
    rows += [
        row("HlsReader, part fetch time + offset", ms(reader["fetch"])),
        row("PDT view: Chromium now - playingDate", ms(chromium["pdt"])),
        row("PDT view: HlsReader fetch - PDT", ms(reader["pdt"])),
        row("PDT stamp - send time (server)", ms(reader["pdt-send"])),
        row("hls.js hls.latency at onset", ms(chromium["hls.latency"])),
    ]
    if dash is not None:
        rows.append(row("dash.js live latency at onset", ms(dash["dash.latency"])))
    print_table(["listener / measure", "n", "min ms", "p50 ms", "p95 ms", "max ms", "target p50"], rows)


if __name__ == "__main__":
    main()
