"""Faults survived with nothing lost: the origin is SIGKILLed mid-Space and restarted."""

from __future__ import annotations

import errno
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import httpx
import m3u8

from townhall.testing.audio import band_level_db, dominant_frequency
from townhall.testing.waiting import wait_until_async
from townhall.testing.servers import (
    Server,
    live_space,
    signed_in_client,
    stage,
    start_server,
    stop_server,
    two_tone_speakers,
)
from townhall import limits
from townhall.tools.clients.hls import HlsReader, decode_fmp4
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher, sine

SEGMENT_SECONDS = limits.PARTS_PER_SEGMENT * limits.AAC_FRAMES_PER_PART * 1024 / 48000
# What a kill may lose: the segment being made, plus the part still in the encoder.
MAX_LOSS_SECONDS = SEGMENT_SECONDS + 0.5


async def speak(whip_url: str, token: str, frequency: float, hls_url: str, seconds: float) -> None:
    """Publish a tone and wait (by reading the live HLS) until `seconds` of it are out."""
    speaker = WhipPublisher(whip_url, token, SyntheticTrack(sine(frequency)))
    await speaker.start()
    try:
        async with httpx.AsyncClient() as client:
            reader = HlsReader(hls_url, client)
            await reader.start(parts_back=0)
            await reader.read_seconds(seconds, timeout=30)
    finally:
        await speaker.stop()


def runs_of_replay(base: str, playlist: m3u8.M3U8) -> list[bytes]:
    """The replay's media split at discontinuities: each run is one encoder timeline."""
    init = httpx.get(f"{base}/{playlist.segment_map[0].uri}").content
    runs: list[bytes] = []
    for segment in playlist.segments:
        data = httpx.get(f"{base}/{segment.uri}")
        assert data.status_code == 200, segment.uri
        if segment.discontinuity or not runs:
            runs.append(init)
        runs[-1] += data.content
    return runs


async def test_sigkill_mid_space_resumes_and_keeps_the_recording(tmp_path: Path) -> None:
    server = start_server(tmp_path, command="serve")
    try:
        host = signed_in_client(server.base_url, "killhost")
        space = live_space(host, "Survives a kill")
        creds = stage(host, space["id"])
        await speak(creds["whip_url"], creds["token"], 440, space["hls_url"], 5.0)
        recorded_live = httpx.get(f"{server.base_url}/hls/{space['id']}/replay.m3u8").text
        started = datetime.fromisoformat(space["started_at"]).timestamp()

        server.process.send_signal(signal.SIGKILL)
        killed_at = time.time()
        server.process.wait(timeout=10)
        lived = killed_at - started

        port = int(server.base_url.rsplit(":", 1)[1])
        server = start_server(tmp_path, command="serve", port=port)
        # The Space is still live after the restart and streams again.
        again = host.get(f"/api/spaces/{space['id']}")
        assert again.status_code == 200 and again.json()["state"] == "live"
        creds = stage(host, space["id"])
        await speak(creds["whip_url"], creds["token"], 880, space["hls_url"], 3.0)
        assert host.post(f"/api/spaces/{space['id']}/end").status_code == 200

        replay = m3u8.loads(httpx.get(f"{server.base_url}/hls/{space['id']}/replay.m3u8").text)
        assert replay.is_endlist
        first_run = [s for s in replay.segments[: next(
            (i for i, s in enumerate(replay.segments) if s.discontinuity), len(replay.segments))]]
        before_kill = sum(s.duration for s in first_run)
        print(f'lived {lived:.2f} s before the kill, recorded {before_kill:.2f} s of it')
        assert lived - before_kill <= MAX_LOSS_SECONDS, (lived, before_kill)
        # Nothing recorded before the kill went missing from what was on disk then.
        assert len(first_run) >= len(m3u8.loads(recorded_live).segments)

        base = f"{server.base_url}/hls/{space['id']}"
        runs = runs_of_replay(base, replay)
        assert len(runs) == 2  # before and after the restart
        decoded = [decode_fmp4(run) for run in runs]  # every file decodes end to end
        for (pcm, frames), expected_seconds in zip(decoded, (before_kill, None)):
            steps = {b[0] - a[0] for a, b in zip(frames, frames[1:])}
            assert steps == {1024}  # continuous within the run
            if expected_seconds is not None:
                assert abs(len(pcm) / 48000 - expected_seconds) < 0.1
        assert abs(dominant_frequency(decoded[0][0]) - 440) <= 5
        assert abs(dominant_frequency(decoded[1][0][-48000:]) - 880) <= 5
    finally:
        stop_server(server)


def fill(directory: Path) -> Path:
    """Fill the file system holding `directory` until writes fail with ENOSPC."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


async def test_full_recording_disk_pauses_recording_not_listening(tmp_path: Path) -> None:
    disk = tmp_path / "recordings"
    disk.mkdir()
    # A small tmpfs is the real thing: writes fail with ENOSPC in the kernel.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(disk)], check=True)
    server = None
    try:
        filler = fill(disk)
        server = start_server(tmp_path, command="serve",
                              extra_env={"TOWNHALL_RECORDINGS_DIR": str(disk)})
        host = signed_in_client(server.base_url, "diskhost")
        space = live_space(host, "Disk full")
        creds = stage(host, space["id"])
        speaker = WhipPublisher(creds["whip_url"], creds["token"], SyntheticTrack(sine(440)))
        await speaker.start()
        try:
            async with httpx.AsyncClient() as client:
                reader = HlsReader(space["hls_url"], client)
                await reader.start(parts_back=0)
                await reader.read_seconds(5.0, timeout=30)  # listening goes on
                pcm, frames = reader.decode()
                assert abs(dominant_frequency(pcm[-48000:]) - 440) <= 5
                error = host.get(f"/api/spaces/{space['id']}").json()["recording_error"]
                assert error and "No space left" in error
                metrics = httpx.get(f"{server.base_url}/metrics").text
                assert f'townhall_recording_errors_total{{space="{space["id"]}"}} 0.0' not in metrics

                filler.unlink()  # space returns
                async def resumed() -> bool:
                    if not host.get(f"/api/spaces/{space['id']}").json()["recording_error"]:
                        return True
                    await reader.read_next()  # keep listening meanwhile
                    return False

                await wait_until_async(resumed, "recording to resume", 15, interval=0)
                await reader.read_seconds(sum(p.duration for p in reader.parts) + 2.5, timeout=30)
        finally:
            await speaker.stop()
        assert host.post(f"/api/spaces/{space['id']}/end").status_code == 200
        replay = m3u8.loads(httpx.get(f"{server.base_url}/hls/{space['id']}/replay.m3u8").text)
        assert replay.is_endlist and len(replay.segments) >= 1
        runs = runs_of_replay(f"{server.base_url}/hls/{space['id']}", replay)
        for run in runs:  # what was recorded after the disk came back decodes
            run_pcm, _ = decode_fmp4(run)
            assert abs(dominant_frequency(run_pcm) - 440) <= 5
    finally:
        if server is not None:
            stop_server(server)
        subprocess.run(["umount", str(disk)], check=False)


async def test_speaker_network_drop_reconnects_and_the_mix_goes_on(server: Server) -> None:
    host = signed_in_client(server.base_url, "drophost")
    guest = signed_in_client(server.base_url, "dropguest")
    space = live_space(host, "Network drop")
    a, b = two_tone_speakers(host, guest, space["id"])
    await a.start()
    await b.start()
    try:
        await b.wait_received(1.0, timeout=10)
        outage_started = time.time()
        await a.simulate_outage(3.0)
        # A comes back by itself (no call from the test) ...
        await wait_until_async(
            lambda: a.reconnects == 1 and a.pc is not None and a.pc.connectionState == "connected",
            lambda: f"a reconnect (connection {a.pc and a.pc.connectionState})", 20, interval=0.05)
        assert time.time() - outage_started >= 3.0
        # ... and is heard again, in the program and by the other speaker.
        async with httpx.AsyncClient() as client:
            reader = HlsReader(space["hls_url"], client)
            await reader.start(parts_back=0)
            await reader.read_seconds(2.0, timeout=20)
        program, _ = reader.decode()
        assert band_level_db(program[-48000:], 440) > -6
        await b.wait_received(1.0, timeout=10)
        assert band_level_db(b.received_pcm(0.5), 440) > -6
        # The mixer never stalled for B while A was gone: B's audio kept arriving.
        during = [t for t in b.received_times if t >= outage_started]
        gaps = [y - x for x, y in zip(during, during[1:])]
        assert during and max(gaps) < 0.25, max(gaps)
    finally:
        await a.stop()
        await b.stop()
