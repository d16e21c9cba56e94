"""Admission by capacity on a real server (townhall/domain/capacity.py): a node whose
mixing budget holds one Space with two speakers refuses a second go-live and a third
speaker with 503 node_full and Retry-After, loses nothing (the refused Space stays
scheduled, the Space on air keeps both voices), and admits again once room is freed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiortc import RTCPeerConnection

from townhall import limits
from townhall.domain.capacity import NODE_FULL
from townhall.testing.audio import dominant_frequency
from townhall.testing.servers import (Server, invite_speaker, live_space, signed_in_client,
                                      stage, start_server, stop_server)
from townhall.testing.waiting import wait_until_async
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher, sine

# One Space with its host and one guest: 0.03 + 2 x 0.06.
ONE_SPACE_TWO_SPEAKERS = limits.SPACE_MIX_COST + 2 * limits.SPEAKER_MIX_COST


@pytest.fixture(scope="module")
def small_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("admission"), "serve",
                          extra_env={"TOWNHALL_MIX_BUDGET": str(ONE_SPACE_TWO_SPEAKERS)})
    yield server
    stop_server(server)


async def offer_sdp() -> str:
    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


def assert_node_full(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["code"] == NODE_FULL
    assert "Try again" in response.json()["detail"]
    assert response.headers["Retry-After"] == str(limits.NODE_FULL_RETRY_AFTER)


async def test_a_full_node_refuses_a_go_live_and_a_speaker_then_admits_when_freed(
        small_node: Server) -> None:
    base = small_node.base_url
    host, guest, third = (signed_in_client(base, p) for p in ("host", "guest", "third"))
    space = live_space(host, "Admitted")["id"]
    invite_speaker(host, guest, space)
    invite_speaker(host, third, space)
    a, b = stage(host, space), stage(guest, space)
    speakers = [WhipPublisher(a["whip_url"], a["token"], SyntheticTrack(sine(440))),
                WhipPublisher(b["whip_url"], b["token"], SyntheticTrack(sine(880)))]
    try:
        for speaker in speakers:
            await speaker.start()
        # A third speaker does not fit: refused before any SDP is answered.
        c = stage(third, space)
        refused = httpx.post(c["whip_url"], content=await offer_sdp(), headers={
            "Content-Type": "application/sdp", "Authorization": f"Bearer {c['token']}"})
        assert_node_full(refused)
        # /metrics says how full the node is, for an operator or a balancer.
        metrics = httpx.get(f"{base}/metrics").text
        assert f"townhall_mix_budget {ONE_SPACE_TWO_SPEAKERS}" in metrics
        assert f"townhall_mix_load {ONE_SPACE_TWO_SPEAKERS}" in metrics
        # Nor does a second Space: it stays scheduled, nothing decided.
        other_host = signed_in_client(base, "other")
        other = other_host.post("/api/spaces", json={"title": "Waits its turn"}).json()["id"]
        assert_node_full(other_host.post(f"/api/spaces/{other}/live"))
        assert other_host.get(f"/api/spaces/{other}").json()["state"] == "scheduled"
        # The Space on air was not disturbed: each speaker still hears the other.
        await wait_until_async(lambda: all(s.received_samples > limits.SAMPLE_RATE
                                           for s in speakers), timeout=20,
                               what="a second of each speaker's mix-minus")
        assert abs(dominant_frequency(speakers[0].received_pcm(0.5)) - 880) < 20
        assert abs(dominant_frequency(speakers[1].received_pcm(0.5)) - 440) < 20
        # A speaker reconnecting before the old connection is gone (a network change)
        # takes no new place: admitted on a full node.
        speakers[1].auto_reconnect = False  # replaced, not to fight back for its place
        again = WhipPublisher(b["whip_url"], b["token"], SyntheticTrack(sine(880)))
        speakers.append(again)
        await again.start()
    finally:
        for speaker in speakers:
            await speaker.stop()
    # Ending the Space frees its room: the waiting one goes live.
    assert host.post(f"/api/spaces/{space}/end").status_code == 200
    live = other_host.post(f"/api/spaces/{other}/live")
    assert live.status_code == 200, live.text
    assert live.json()["state"] == "live"
