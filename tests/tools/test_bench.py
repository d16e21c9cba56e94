"""`townhall bench`: the launch pre-flight, run against the session's demo server on
loopback (and its pieces without a server)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import m3u8
import pytest

from townhall.testing.servers import Server
from townhall.tools.bench import MAX_LISTENERS
from townhall.tools.bench.common import BenchError
from townhall.tools.bench.join_storm import JoinStorm
from townhall.tools.bench.listeners import ListenersRun, Playback, beacon_url_for
from townhall.tools.bench.listeners import summary_text as listeners_summary
from townhall.tools.bench.playlist import parse
from townhall.tools.bench.speakers import ABSENT_DB, SpeakersRun
from townhall.tools.clients.hls import HlsReader

PART = 0.256


def demo_url(server: Server) -> str:
    return f"{server.base_url}/hls/demo/live.m3u8"


# --- without a server ------------------------------------------------------------------


def test_playback_on_time_parts_never_stall() -> None:
    playback = Playback()
    for n in range(40):
        playback.add(PART, 10.0 + n * PART)
    playback.finish(10.0 + 40 * PART)
    assert playback.stalls == 0 and playback.stalled_seconds == 0


def test_playback_counts_an_underrun_and_its_length() -> None:
    playback = Playback()  # starts 0.256 s after the first part
    for n in range(3):  # three parts at once: 0.768 s buffered, plays from 10.256
        playback.add(PART, 10.0)
    playback.add(PART, 12.0)  # runs out at 11.024, resumes at 12.0
    playback.finish(12.1)
    assert playback.stalls == 1
    assert playback.stalled_seconds == pytest.approx(12.0 - 11.024, abs=1e-6)


def test_playlist_reader_agrees_with_m3u8(server: Server) -> None:
    text = httpx.get(demo_url(server), timeout=10).text
    ours = [tuple(p) for p in parse(text).parts]
    theirs = HlsReader(demo_url(server), None)._listed_parts(m3u8.loads(text))  # type: ignore[arg-type]
    assert ours and [p[:4] for p in ours] == [p[:4] for p in theirs]
    # Same dates, except that m3u8 has none for a first segment still in progress.
    assert all(t[4] is None or o[4] == pytest.approx(t[4]) for o, t in zip(ours, theirs))


def test_counts_and_targets_are_bounded() -> None:
    with pytest.raises(BenchError):
        ListenersRun("http://127.0.0.1:9/x.m3u8", MAX_LISTENERS + 1, 5)
    with pytest.raises(BenchError):
        ListenersRun("http://127.0.0.1:9/x.m3u8", 10, 10**6)
    with pytest.raises(BenchError):
        JoinStorm("file:///etc/passwd", 10, 1)
    with pytest.raises(BenchError):
        SpeakersRun("http://127.0.0.1:9", 14, 5, "u", "p")


# --- against the demo server -----------------------------------------------------------


def test_beacon_url_only_for_townhall_spaces() -> None:
    assert beacon_url_for("http://127.0.0.1:8080/hls/abc_D-1/live.m3u8") == (
        "http://127.0.0.1:8080/api/spaces/abc_D-1/beacon")
    assert beacon_url_for("https://cdn.example/x/hls/abc/live.m3u8") == (
        "https://cdn.example/x/api/spaces/abc/beacon")
    assert beacon_url_for("https://other.example/stream/index.m3u8") is None


async def test_listeners_play_without_stalls_on_loopback(server: Server) -> None:
    lines: list[str] = []
    before = httpx.get(f"{server.base_url}/api/spaces/demo/audience").json()["unique"]
    bench = ListenersRun(demo_url(server), count=20, duration=6, ramp=1, progress=lines.append)
    result = await bench.run()
    # Each simulated player sent audience beacons like the web player does.
    assert httpx.get(f"{server.base_url}/api/spaces/demo/audience").json()["unique"] >= before + 20
    assert result["players_with_audio"] == 20
    assert result["errors"] == {}
    assert result["stalls"]["count"] == 0, result["stalls"]
    assert result["ttfa_s"]["max"] < 2.0
    assert result["latency_s"]["p50"] < 2.0
    assert result["latency_s"]["negative"] == 0
    # 20 players x ~5 s of playing at ~3.9 parts/s, and a progress line every second.
    assert result["parts"] >= 20 * 4 * 3.9 * 0.8
    assert sum(line.startswith("[") for line in lines) >= 5
    assert "stalls per player-minute" in listeners_summary(result)


async def test_join_storm_all_join_quickly(server: Server) -> None:
    result = await JoinStorm(demo_url(server), count=200, within=2).run()
    assert result["success_rate"] == 1.0, result["errors"]
    assert result["errors"] == {}
    assert result["ttfa_s"]["p99"] < 2.0
    assert result["requests"] == 3 * 200  # playlist, init, first part


async def test_speakers_hear_each_other_and_the_space_ends(server: Server) -> None:
    username, password = "benchhost_t", "correct horse battery"
    async with httpx.AsyncClient(base_url=server.base_url, timeout=20) as api:
        signup = await api.post("/api/auth/signup",
                                json={"username": username, "password": password})
        assert signup.status_code in (201, 409), signup.text
    result = await SpeakersRun(server.base_url, count=2, duration=5, username=username,
                               password=password).run()
    assert len(result["speakers"]) == 2
    for speaker in result["speakers"]:
        assert speaker["error"] is None
        assert speaker["received_s"] >= 0.8 * 5, speaker
        assert speaker["own_tone_db"] < ABSENT_DB, speaker
        assert speaker["others_heard"] == 1, speaker
    assert result["program"].get("tones_present") == 2, result["program"]
    async with httpx.AsyncClient(base_url=server.base_url, timeout=20) as api:
        space = (await api.get(f"/api/spaces/{result['space_id']}")).json()
    assert space["state"] == "ended"


def test_cli_writes_json_and_refuses_out_of_bounds(server: Server, tmp_path: Path) -> None:
    townhall = [sys.executable, "-m", "townhall.cli", "bench"]
    out = tmp_path / "storm.json"
    done = subprocess.run([*townhall, "join-storm", demo_url(server), "--count", "20",
                           "--within", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "time to first audio p99" in done.stdout
    assert "joined" in done.stderr  # progress lines
    result = json.loads(out.read_text())
    assert result["success_rate"] == 1.0 and result["succeeded"] == 20
    refused = subprocess.run([*townhall, "listeners", demo_url(server), "--count",
                              str(MAX_LISTENERS + 1), "--duration", "5"],
                             capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 2 and "--count must be between" in refused.stderr
