"""A WHIP offer in flight and a decision taken meanwhile never interleave
(townhall/app/stage.py and townhall/app/spaces.py share one lock per Space).

Each race is run with real aiortc peers at several offsets between the offer and the
host's command, and judged by what the broadcast carries: a removed or muted speaker's
tone (880 Hz) is not in the HLS program, while the host's (440 Hz) is.
"""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from townhall.testing.audio import band_level_db
from townhall.testing.servers import (
    Server,
    invite_speaker,
    live_space,
    signed_in_client,
    stage,
)
from townhall.tools.clients.hls import HlsReader, decode_fmp4
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher, sine

HOST_HZ, GUEST_HZ = 440, 880
# Offsets (s) between starting the offer and the host's command: before the offer is
# read, while it is being answered, and just after (the old race was at ~10 ms).
OFFSETS = (0.0, 0.005, 0.01, 0.02, 0.04, 0.08)
PROGRAM_SECONDS = 2.0  # of broadcast judged after the races settled


def user_id(client: httpx.Client) -> int:
    return int(client.get("/api/me").json()["id"])


def publisher(creds: dict, hz: float) -> WhipPublisher:
    speaker = WhipPublisher(creds["whip_url"], creds["token"], SyntheticTrack(sine(hz)))
    speaker.auto_reconnect = False  # a refused or closed speaker must stay off
    return speaker


class RacingSpeaker:
    """A speaker whose offer is made before the race starts, so the race's offset is
    measured from the moment the offer is sent."""

    def __init__(self, creds: dict, hz: float) -> None:
        self.creds = creds
        self.pc = RTCPeerConnection()
        self.pc.addTransceiver(SyntheticTrack(sine(hz)), direction="sendrecv")

    async def prepare(self) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())

    async def send_offer(self, client: httpx.AsyncClient) -> int:
        response = await client.post(self.creds["whip_url"], content=self.pc.localDescription.sdp,
                                     headers={"Content-Type": "application/sdp",
                                              "Authorization": f"Bearer {self.creds['token']}"})
        if response.status_code == 201:  # on air until the server says otherwise
            await self.pc.setRemoteDescription(RTCSessionDescription(response.text, "answer"))
        return response.status_code

    async def stop(self) -> None:
        await self.pc.close()


async def offer_racing(speaker: RacingSpeaker, command: object, offset: float) -> None:
    """Send the offer, and `offset` seconds later the host's command."""
    await speaker.prepare()
    async with httpx.AsyncClient(timeout=20) as client:
        offer = asyncio.create_task(speaker.send_offer(client))
        await asyncio.sleep(offset)  # the race's offset, not a wait for anything
        response = await asyncio.to_thread(command)  # type: ignore[arg-type]
        assert response.status_code == 200, response.text
        # 201 (answered first: the command then cuts it off or mutes it), or 401/403
        # (the command came first).
        assert await offer in (201, 401, 403)


# Audio mixed before the races settled that may still be at the live edge: the parts
# in flight (PART-HOLD-BACK 0.768 s) and what the mixer and encoder hold.
SETTLE_SECONDS = 1.5


async def program_after(hls_url: str, seconds: float) -> object:
    """The broadcast from now on, `seconds` of it: joined at the live edge, the first
    SETTLE_SECONDS (mixed before now) skipped."""
    async with httpx.AsyncClient() as client:
        reader = HlsReader(hls_url, client)
        await reader.start(parts_back=0)
        deadline = asyncio.get_running_loop().time() + 30
        skip = None
        while True:
            heard = sum(p.duration for p in reader.parts)
            if skip is None and heard >= SETTLE_SECONDS:
                skip = len(reader.parts)
            if skip is not None and sum(p.duration for p in reader.parts[skip:]) >= seconds:
                break
            assert asyncio.get_running_loop().time() < deadline, "the broadcast stalled"
            await reader.read_next()
        return decode_fmp4(reader.init + b"".join(p.data for p in reader.parts[skip:]))[0]


def end(host: httpx.Client, space_id: str) -> None:
    """Spaces of the shared server are ended, so their mixers stop costing CPU."""
    host.post(f"/api/spaces/{space_id}/end")


async def on_air_host(server: Server, title: str) -> tuple[httpx.Client, dict, WhipPublisher]:
    host = signed_in_client(server.base_url, "racehost")
    space = live_space(host, title)
    speaker = publisher(stage(host, space["id"]), HOST_HZ)
    await speaker.start()
    return host, space, speaker


@pytest.mark.parametrize("kind", ["remove", "mute"])
async def test_a_decision_racing_an_offer_keeps_the_speaker_out_of_the_program(
        server: Server, kind: str) -> None:
    host, space, host_speaker = await on_air_host(server, f"Race {kind}")
    guests: list[RacingSpeaker] = []
    try:
        for offset in OFFSETS:
            guest = signed_in_client(server.base_url, f"race{kind}")
            invite_speaker(host, guest, space["id"])
            speaker = RacingSpeaker(stage(guest, space["id"]), GUEST_HZ)
            guests.append(speaker)
            command = lambda: host.post(  # noqa: E731
                f"/api/spaces/{space['id']}/{kind}", json={"user_id": user_id(guest)})
            await offer_racing(speaker, command, offset)
        program = await program_after(space["hls_url"], PROGRAM_SECONDS)
        assert band_level_db(program, HOST_HZ) > -6, "the host should be on air"
        assert band_level_db(program, GUEST_HZ) < -30, f"a {kind}d speaker is on air"
        speakers = host.get(f"/api/spaces/{space['id']}").json()["speakers"]
        if kind == "remove":
            assert [s["id"] for s in speakers] == [user_id(host)]
        else:  # on stage, maybe, but muted
            assert all(s["muted"] for s in speakers if s["id"] != user_id(host))
        # Mute-all still reaches everyone (it used to miss the racing connection).
        assert host.post(f"/api/spaces/{space['id']}/mute-all").status_code == 200
    finally:
        for speaker in [host_speaker, *guests]:
            await speaker.stop()
        end(host, space["id"])


def connected_speakers(server: Server, space_id: str) -> int:
    metrics = httpx.get(f"{server.base_url}/metrics").text
    found = re.search(rf'^townhall_space_speakers{{space="{re.escape(space_id)}"}} (\S+)$',
                      metrics, re.M)
    return int(float(found.group(1))) if found else 0


async def test_offers_sent_at_once_to_five_spaces_respect_the_limit_of_two(server: Server) -> None:
    host = signed_in_client(server.base_url, "fivehost")
    guest = signed_in_client(server.base_url, "fiveguest")
    spaces = [live_space(host, f"Five {n}") for n in range(5)]
    speakers = []
    for space in spaces:
        invite_speaker(host, guest, space["id"])
        speakers.append(publisher(stage(guest, space["id"]), GUEST_HZ))
    try:
        results = await asyncio.gather(*(s.start() for s in speakers), return_exceptions=True)
        accepted = [r for r in results if r is None]
        refused = [r for r in results if isinstance(r, RuntimeError) and "409" in str(r)]
        assert (len(accepted), len(refused)) == (2, 3), results
        connected = [connected_speakers(server, s["id"]) for s in spaces]
        assert sorted(connected) == [0, 0, 0, 1, 1]
    finally:
        for speaker in speakers:
            await speaker.stop()
        for space in spaces:
            end(host, space["id"])


async def test_ten_offers_at_once_to_one_space_leave_one_connection(server: Server) -> None:
    host = signed_in_client(server.base_url, "tenhost")
    guest = signed_in_client(server.base_url, "tenguest")
    space = live_space(host, "Ten")
    invite_speaker(host, guest, space["id"])
    speakers = [publisher(stage(guest, space["id"]), GUEST_HZ) for _ in range(10)]
    try:
        results = await asyncio.gather(*(s.start() for s in speakers), return_exceptions=True)
        assert all(r is None for r in results), results  # each replaces the one before
        assert connected_speakers(server, space["id"]) == 1
        # The one left is the newest: it is heard.
        program = await program_after(space["hls_url"], PROGRAM_SECONDS)
        assert band_level_db(program, GUEST_HZ) > -6
    finally:
        for speaker in speakers:
            await speaker.stop()
        end(host, space["id"])
