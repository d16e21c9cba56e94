"""Bad WHIP and API input gets a clear 4xx, never a 500, and the live Space keeps
streaming to its listeners throughout."""

from __future__ import annotations

import asyncio
import time

import httpx

from townhall.testing.audio import dominant_frequency
from townhall.testing.servers import (
    Server,
    largest_gap_since,
    listening_throughout,
    live_space,
    signed_in_client,
    stage,
)
from townhall import limits
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher, sine

# While bad requests fly, a listener must keep getting parts: never a gap this long.
MAX_LISTENER_GAP_SECONDS = 1.5
GOOD_SDP_HEAD = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


def bad_requests(server: Server, space_id: str, token: str, location: str, other: httpx.Client,
                 other_token: str) -> list[tuple[str, httpx.Response, int]]:
    whip = f"{server.base_url}/whip/{space_id}"
    sdp = {"Content-Type": "application/sdp"}
    bearer = {**sdp, "Authorization": f"Bearer {token}"}
    c = httpx.Client(timeout=20)
    cases = [
        ("malformed SDP", c.post(whip, content="hello", headers=bearer), 400),
        ("SDP without audio", c.post(whip, content=GOOD_SDP_HEAD + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n",
                                      headers=bearer), 400),
        ("SDP missing ICE/DTLS", c.post(whip, content=GOOD_SDP_HEAD + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n",
                                         headers=bearer), 400),
        ("binary SDP", c.post(whip, content=b"v=0\r\n\xff\xfe", headers=bearer), 400),
        ("oversized SDP", c.post(whip, content="v=0\r\n" + "a=x\r\n" * limits.MAX_SDP_BYTES,
                                  headers=bearer), 413),
        ("too many media sections", c.post(whip, content=GOOD_SDP_HEAD + "m=audio 9 RTP/AVP 0\r\n" * 9,
                                            headers=bearer), 400),
        ("wrong content type", c.post(whip, content="v=0", headers={
            "Content-Type": "text/plain", "Authorization": f"Bearer {token}"}), 415),
        ("missing bearer token", c.post(whip, content="v=0", headers=sdp), 401),
        ("invalid bearer token", c.post(whip, content="v=0", headers={
            **sdp, "Authorization": "Bearer not-a-token"}), 401),
        ("basic auth instead of bearer", c.post(whip, content="v=0", headers={
            **sdp, "Authorization": "Basic dXNlcjpwYXNz"}), 401),
        ("huge bearer token", c.post(whip, content="v=0", headers={
            **sdp, "Authorization": "Bearer " + "x" * 5000}), 401),
        ("unknown Space", c.post(f"{server.base_url}/whip/nosuchspace", content="v=0", headers=bearer), 404),
        ("token for another Space", c.post(f"{server.base_url}/whip/demo", content="v=0",
                                            headers=bearer), 403),
        ("DELETE of someone else's WHIP resource", c.delete(location, headers={
            "Authorization": f"Bearer {other_token}"}), 403),
        ("DELETE without token", c.delete(location), 401),
        ("DELETE of unknown resource", c.delete(f"{whip}/nope", headers=bearer), 404),
        ("trickle PATCH", c.patch(location, content="a=candidate", headers=bearer), 405),
        ("a listener asks to speak", other.post(f"/api/spaces/{space_id}/stage"), 403),
        ("anonymous asks to speak", c.post(f"{server.base_url}/api/spaces/{space_id}/stage"), 401),
        ("a listener ends the Space", other.post(f"/api/spaces/{space_id}/end"), 403),
        ("empty title", other.post("/api/spaces", json={"title": "  "}), 422),
        ("title too long", other.post("/api/spaces", json={"title": "x" * 1000}), 422),
        ("huge JSON body", other.post("/api/spaces", content=b'{"title": "' + b"x" * (
            limits.MAX_REQUEST_BODY_BYTES + 1) + b'"}', headers={"Content-Type": "application/json"}), 413),
        ("not JSON", other.post("/api/spaces", content=b"{", headers={"Content-Type": "application/json"}), 422),
        ("unknown Space page data", other.get("/api/spaces/" + "x" * 300), 404),
        ("go live twice", c.post(f"{server.base_url}/api/spaces/{space_id}/live"), 401),
        ("bad invite code", other.post(f"/api/spaces/{space_id}/invites/nope/accept"), 404),
        ("short password", c.post(f"{server.base_url}/api/auth/signup",
                                  json={"username": "abcdef", "password": "x"}), 422),
        ("wrong password", c.post(f"{server.base_url}/api/auth/signin",
                                  json={"username": "nobody_here", "password": "whatever1"}), 401),
        ("HLS part far ahead", c.get(f"{server.base_url}/hls/{space_id}/live.m3u8",
                                     params={"_HLS_msn": 99999999, "_HLS_part": 0}), 400),
        ("HLS name not ours", c.get(f"{server.base_url}/hls/{space_id}/..%2f..%2fetc%2fpasswd"), 404),
    ]
    c.close()
    return cases


async def test_bad_input_is_refused_while_the_space_streams(server: Server) -> None:
    host = signed_in_client(server.base_url, "badhost")
    listener = signed_in_client(server.base_url, "badlistener")
    space = live_space(host, "Under bad input")
    creds = stage(host, space["id"])
    speaker = WhipPublisher(creds["whip_url"], creds["token"], SyntheticTrack(sine(440)))
    await speaker.start()
    # Another speaker's token in another Space, for the "someone else's resource" case.
    other_space = live_space(listener, "Other")
    other_token = stage(listener, other_space["id"])["token"]

    async with listening_throughout(space["hls_url"]) as reader:
        started = time.time()
        cases = await asyncio.to_thread(
            bad_requests, server, space["id"], creds["token"], speaker.location, listener, other_token
        )

    failures = []
    for name, response, expected in cases:
        detail = response.text
        if response.status_code != expected or not detail.strip():
            failures.append(f"{name}: {response.status_code} {detail[:200]!r} (wanted {expected})")
    assert not failures, "\n".join(failures)

    assert largest_gap_since(reader, started) < MAX_LISTENER_GAP_SECONDS
    pcm, _ = reader.decode()
    assert abs(dominant_frequency(pcm[-48000:]) - 440) <= 5
    # The speaker was never disconnected by the bad requests.
    await speaker.wait_received(0.5, timeout=5)
    assert speaker.pc is not None and speaker.pc.connectionState == "connected"
    await speaker.stop()
