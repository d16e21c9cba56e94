"""Helpers for the browser tests: a test-tone WAV for Chromium's fake microphone, and an
independent LL-HLS listener that fetches and decodes what the origin serves."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import httpx
import m3u8
import numpy as np
import pytest

from townhall import limits
from townhall.testing import audio
from townhall.testing.audio import full_scale, write_wav
from townhall.testing.waiting import wait_until  # noqa: F401 (the browser tests import it here)
from townhall.tools.clients.hls import decode_fmp4
from townhall.tools.clients.whip import sine

SAMPLE_RATE = limits.SAMPLE_RATE


def write_tone_wav(path: Path, freq: float = 440.0, seconds: float = 30.0,
                   amplitude: float = 0.3) -> Path:
    """48 kHz mono 16-bit sine, used as Chromium's fake microphone."""
    return write_wav(path, sine(freq, amplitude)(0, int(SAMPLE_RATE * seconds)), SAMPLE_RATE)


@contextmanager
def launched_chromium(executable: Path, args: Callable[[Path], list[str]], tmp_path: Path,
                      tones: dict[float, float]) -> Iterator[dict[float, object]]:
    """One headless Chromium per fake-microphone tone ({Hz: seconds of WAV}; the capture
    file is a launch argument), keyed by Hz. Without Debian's Chromium this fails: it
    skips only when asked to (TOWNHALL_SKIP_BROWSER_TESTS=1)."""
    if not executable.exists():
        if os.environ.get("TOWNHALL_SKIP_BROWSER_TESTS") == "1":
            pytest.skip(f"no {executable} and TOWNHALL_SKIP_BROWSER_TESTS=1")
        pytest.fail("Debian's chromium is missing: run `make setup` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched: dict[float, object] = {}
        try:
            for freq, seconds in tones.items():
                wav = write_tone_wav(tmp_path / f"tone-{int(freq)}hz.wav", freq, seconds=seconds)
                launched[freq] = playwright.chromium.launch(
                    executable_path=str(executable), headless=True, args=args(wav)
                )
            yield launched
        finally:
            for browser in launched.values():
                browser.close()


# --- an independent LL-HLS listener -------------------------------------------------

@dataclass
class MediaPlaylist:
    text: str
    media_sequence: int = 0
    map_uri: str | None = None
    # Complete segments: (msn, uri, duration). Parts of every listed segment, by msn.
    segments: list[tuple[int, str, float]] = field(default_factory=list)
    parts: dict[int, list[tuple[str, float]]] = field(default_factory=dict)
    has_program_date_time: bool = False
    ended: bool = False

    @property
    def newest_msn(self) -> int:
        """The msn of the segment being made (the one after the last complete one)."""
        return self.media_sequence + len(self.segments)


def parse_media_playlist(text: str) -> MediaPlaylist:
    """A media playlist as the m3u8 package reads it: MAP, PART, EXTINF + URI, PDT,
    ENDLIST (a segment still being made has parts and no URI yet)."""
    if not text.startswith("#EXTM3U"):
        raise ValueError(f"not a playlist: {text[:80]!r}")
    parsed = m3u8.loads(text)
    playlist = MediaPlaylist(
        text, media_sequence=parsed.media_sequence or 0,
        map_uri=parsed.segment_map[0].uri if parsed.segment_map else None,
        has_program_date_time=parsed.program_date_time is not None, ended=parsed.is_endlist)
    for msn, segment in enumerate(parsed.segments, start=playlist.media_sequence):
        if segment.parts:
            playlist.parts[msn] = [(part.uri, part.duration) for part in segment.parts]
        if segment.uri is not None:
            playlist.segments.append((msn, segment.uri, segment.duration))
    return playlist


def fetch_playlist(client: httpx.Client, url: str, **params: int) -> MediaPlaylist:
    response = client.get(url, params={f"_HLS_{k}": v for k, v in params.items()} or None)
    response.raise_for_status()
    return parse_media_playlist(response.text)


def collect_segments_after(client: httpx.Client, url: str, after_msn: int, seconds: float,
                           timeout: float) -> tuple[bytes, list[str]]:
    """Wait (blocking playlist reloads) until complete segments after `after_msn` add up
    to `seconds`, then fetch init + those segments in order. Returns (bytes, uris)."""
    deadline = time.monotonic() + timeout
    playlist = fetch_playlist(client, url)
    while True:
        chosen = [(n, uri, d) for n, uri, d in playlist.segments if n > after_msn]
        if sum(d for _, _, d in chosen) >= seconds:
            break
        if playlist.ended:
            raise AssertionError(f"playlist ended before {seconds} s after msn {after_msn}")
        if time.monotonic() > deadline:
            raise AssertionError(
                f"live playlist did not grow by {seconds} s after msn {after_msn} in {timeout} s:\n"
                f"{playlist.text}"
            )
        # Blocking reload: the server answers when the next segment is complete.
        try:
            playlist = fetch_playlist(client, url, msn=playlist.newest_msn + 1)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 503:
                raise
    if playlist.map_uri is None:
        raise AssertionError(f"no EXT-X-MAP in the live playlist:\n{playlist.text}")
    data = bytearray(_get(client, urljoin(url, playlist.map_uri)))
    uris = [uri for _, uri, _ in chosen]
    for uri in uris:
        data += _get(client, urljoin(url, uri))
    return bytes(data), uris


def _get(client: httpx.Client, url: str) -> bytes:
    response = client.get(url)
    response.raise_for_status()
    return response.content


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """Decode fMP4 AAC to mono float samples (1.0 = full scale) and their rate."""
    pcm, _ = decode_fmp4(data)
    if not pcm.size:
        raise AssertionError("no audio frames decoded")
    return full_scale(pcm), SAMPLE_RATE


# The browser tests' names for townhall.testing.audio's analysis, with the rate second.


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    return audio.dominant_frequency(samples, rate)


def band_power_db(samples: np.ndarray, rate: int, frequency: float, width: float = 15.0) -> float:
    return audio.band_power_db(samples, frequency, width, rate)


def band_share_db(samples: np.ndarray, rate: int, frequency: float, width: float = 15.0) -> float:
    return audio.band_level_db(samples, frequency, width, rate)


# Accessibility: axe-core from npm (package.json), injected into the page under test.
AXE_JS = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
# What the browser tests refuse: a person using a screen reader, keyboard or low vision
# is blocked or badly hindered. Moderate and minor findings are reported, not failed.
BLOCKING_IMPACTS = ("serious", "critical")
_AXE_RUN = """async () => {
    const results = await window.axe.run(document, {resultTypes: ['violations']});
    return results.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help, url: v.helpUrl,
        nodes: v.nodes.map((n) => ({target: n.target.join(' '), html: n.html.slice(0, 300),
                                    summary: n.failureSummary})),
    }));
}"""


def axe_violations(page, impacts: tuple[str, ...] = BLOCKING_IMPACTS) -> list[dict]:
    """axe-core's violations on the page as it is now, those of `impacts` only. Fails
    (never skips) when axe-core is not installed: `make setup` runs `npm ci`."""
    if not AXE_JS.is_file():
        pytest.fail(f"{AXE_JS} is missing: run `make setup` (npm ci installs axe-core)")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated by the browser's devtools, not added as an inline <script>: the
        # site's Content-Security-Policy (rightly) refuses inline scripts.
        page.evaluate(AXE_JS.read_text(encoding="utf-8"))
    return [v for v in page.evaluate(_AXE_RUN) if v["impact"] in impacts]


def describe_violations(violations: list[dict]) -> str:
    """One line per violation and up to three of its elements, for an assertion message."""
    lines = []
    for v in violations:
        lines.append(f"{v['impact']}: {v['id']}: {v['help']} ({v['url']})")
        lines += [f"    {n['target']}: {n['html']}\n      {n['summary']}" for n in v["nodes"][:3]]
    return "\n".join(lines)


# --- hearing tone bursts in a page ------------------------------------------------------
# JavaScript, for a page: watchBursts(analyser, cfg, details, onPoll) polls an unsmoothed
# AnalyserNode every 5 ms. An onset is the first poll with a sample over cfg.threshold
# after cfg.quietMs of quiet: `detected` (ms since epoch), `refined` (when that loud sample
# went through the graph), plus details(t); its `frequency` is read 35 ms later (a whole
# 30 ms burst in the 2048-sample window). Returns the array the onsets are pushed to.
WATCH_BURSTS_JS = """function watchBursts(analyser, cfg, details = () => ({}), onPoll = () => {}) {
  const rate = analyser.context.sampleRate;
  const wave = new Float32Array(analyser.fftSize);
  const spectrum = new Float32Array(analyser.frequencyBinCount);
  const minBin = Math.ceil(200 * analyser.fftSize / rate);
  const onsets = [];
  let lastLoud = -Infinity;
  let pending = null;
  setInterval(() => {
    const t = performance.timeOrigin + performance.now();
    onPoll(t);
    analyser.getFloatTimeDomainData(wave);
    const first = wave.findIndex((v) => Math.abs(v) > cfg.threshold);
    if (first >= 0) {
      if (t - lastLoud >= cfg.quietMs && pending === null) {
        pending = { detected: t, refined: t - (wave.length - first) / rate * 1000, ...details(t) };
      }
      lastLoud = t;
    }
    if (pending !== null && t - pending.detected >= 35) {
      analyser.getFloatFrequencyData(spectrum);
      let best = minBin;
      for (let i = minBin; i < spectrum.length; i++) if (spectrum[i] > spectrum[best]) best = i;
      pending.frequency = best * rate / analyser.fftSize;
      onsets.push(pending);
      pending = null;
    }
  }, 5);
  return onsets;
}"""

# JavaScript: tapPlayer(player) hangs an unsmoothed analyser after the Space page's player
# meter (same AudioContext), pulled by the graph and heard by nobody.
TAP_PLAYER_JS = """function tapPlayer(p) {
  const analyser = p._ctx.createAnalyser();
  analyser.fftSize = 2048;
  analyser.smoothingTimeConstant = 0;
  p._analyser.connect(analyser);
  const silent = p._ctx.createGain();
  silent.gain.value = 0;
  analyser.connect(silent);
  silent.connect(p._ctx.destination);
  return analyser;
}"""


def with_burst_helpers(params: str, body: str) -> str:
    """A function for page.evaluate with watchBursts and tapPlayer in scope."""
    return f"({params}) => {{\n{TAP_PLAYER_JS}\n{WATCH_BURSTS_JS}\n{body}\n}}"
