"""Fuzzing the parsers we own or feed: SDP offers and ICE candidate lines, HLS media
names and playlist query parameters, WHIP bodies, configuration.

In-process properties run hundreds of examples in a second or two; the HTTP ones hit
the session's live demo server with a bounded number of examples (deterministic).
Each must end in a result or a clear client error: never another exception, never a
5xx, never a hang (deadlines and timeouts). Regressions for what fuzzing found are at
the end of each section.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import string
import time
from unittest import mock
from urllib.parse import quote

import httpx
import pytest
from aiortc.sdp import candidate_from_sdp
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from townhall.testing.servers import (
    Server,
    invite_speaker,
    largest_gap_since,
    listening_throughout,
    live_space,
    signed_in_client,
    stage,
)
from townhall import limits
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher, sine
from townhall.config import Settings
from townhall.domain.errors import ClientError
from townhall.media.llhls import INIT_NAME, parse_media_name, part_name, segment_name
from townhall.media.webrtc.sdp import check_offer, filter_candidates

FAST = settings(max_examples=300, deadline=500, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
# Over HTTP: fewer examples, no per-example deadline (a blocking reload may hold ~6 s),
# a client timeout instead.
HTTP = settings(max_examples=int(os.environ.get("TOWNHALL_FUZZ_HTTP_EXAMPLES", "40")),
                deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
HTTP_TIMEOUT = 15.0

# A real offer (aiortc 1.16), one line per item: the seed the SDP mutations start from.
OFFER_LINES = [
    "v=0",
    "o=- 4004517718 4004517718 IN IP4 0.0.0.0",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0",
    "a=msid-semantic:WMS *",
    "m=audio 9 UDP/TLS/RTP/SAVPF 96 9 0 8",
    "c=IN IP4 127.0.0.1",
    "a=sendrecv",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=mid:0",
    "a=msid:3b14190a-e24c-438d-a6eb-6f523795bb1a 098d60f5-ebc3-4bb2-806f-9010ebffe48b",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=rtcp-mux",
    "a=ssrc:2335562331 cname:3e91ca96-a979-4c2a-a67e-06831e008cc4",
    "a=rtpmap:96 opus/48000/2",
    "a=rtpmap:0 PCMU/8000",
    "a=candidate:f957a2332b1715da 1 udp 2130706431 127.0.0.1 9 typ host",
    "a=end-of-candidates",
    "a=ice-ufrag:pFIN",
    "a=ice-pwd:b2qsnV1gpMhQ1Tg3JKfOU6",
    ("a=fingerprint:sha-256 D8:6C:36:7D:6F:9F:1D:E2:15:FF:A2:B3:CA:72:2C:0E:B1:47:B7:38:1C:6D:3F:E1:"
     "C8:66:F7:64:55:3B:B4:33"),
    "a=setup:actpass",
]

# -- strategies -------------------------------------------------------------------------
any_text = st.text(max_size=200)
tokens = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + ":/.-+ =", max_size=30),
    st.integers(-2**70, 2**70).map(str),
    st.sampled_from(["", " ", "0", "-1", "65536", "99999999999", "::", "1.2.3.4", "nan",
                     "opus/48000/2", "UDP/TLS/RTP/SAVPF", "actpass", "active", "IN IP4 x"]),
    any_text,
)
addresses = st.one_of(
    st.ip_addresses().map(str),
    st.sampled_from(["127.0.0.1", "10.1.2.3", "8.8.8.8", "::1", "fe80::1%eth0", "x.local",
                     "256.1.1.1", "", "1.2.3", "::ffff:8.8.8.8", "0.0.0.0"]),
    st.text(max_size=20),
)
candidate_lines = st.builds(
    lambda f, c, proto, prio, addr, port, typ, extra: (
        f"a=candidate:{f} {c} {proto} {prio} {addr} {port} typ {typ}{extra}"
    ),
    tokens, st.sampled_from(["1", "2", "x"]), st.sampled_from(["udp", "tcp", "UDP", "sctp"]),
    tokens, addresses, tokens, st.sampled_from(["host", "srflx", "relay", "prflx", "?"]),
    st.sampled_from(["", " raddr 0.0.0.0 rport 0", " tcptype passive", " generation 0"]),
)


def _mutate(line: str, how: int, value: str) -> list[str]:
    prefix, _, _ = line.partition(":") if line.startswith("a=") else (line[:2], "", "")
    return [
        [line],  # keep
        [],  # drop
        [line, line],  # repeat
        [f"{prefix}:{value}" if line.startswith("a=") else f"{prefix}{value}"],  # new value
        [line[: len(value) % (len(line) + 1)]],  # cut short
        [line + " " + value],  # trailing junk
    ][how]


@st.composite
def sdp_like(draw: st.DrawFn) -> str:
    """A real offer with lines dropped, repeated, cut, given other values; extra lines
    (candidates, media sections, junk); various line endings."""
    lines: list[str] = []
    for line in OFFER_LINES:
        lines += _mutate(line, draw(st.sampled_from([0, 0, 0, 0, 1, 2, 3, 4, 5])), draw(tokens))
    for _ in range(draw(st.integers(0, 4))):
        extra = draw(st.one_of(candidate_lines, tokens.map(lambda t: "m=audio " + t),
                               st.sampled_from(["m=video 9 UDP/TLS/RTP/SAVPF 96", "a=setup:bogus",
                                                "a=candidate", "a=fingerprint:", "c=IN IP6 ::1"]),
                               any_text))
        lines.insert(draw(st.integers(0, len(lines))), extra)
    ending = draw(st.sampled_from(["\r\n", "\n", "\r", "\r\n\r\n", "\u2028"]))
    return ending.join(lines) + ending


# -- SDP offers -------------------------------------------------------------------------
def _check(body: bytes) -> None:
    try:
        text = check_offer(body)
    except ClientError as exc:
        assert 400 <= exc.status < 500 and exc.message
    else:
        assert text == body.decode("utf-8")


@FAST
@given(st.binary(max_size=4096))
def test_check_offer_bytes(body: bytes) -> None:
    _check(body)


@FAST
@given(sdp_like())
def test_check_offer_sdp_like(sdp: str) -> None:
    _check(sdp.encode("utf-8", "surrogatepass"))


@example(b"v=0\r\n" + b"a=" + b"x" * (limits.MAX_SDP_BYTES - 7))  # just under the limit
@example(b"v=0\r\n" + b"\n" * limits.MAX_SDP_BYTES)  # just over, all line breaks
@example(b"v=0\r\n" + b"m=audio 9\r\n" * 5000)
@settings(FAST, max_examples=5)
@given(st.just(b""))
def test_check_offer_large(body: bytes) -> None:
    started = time.perf_counter()
    _check(body)
    assert time.perf_counter() - started < 0.5


# -- ICE candidate filtering -----------------------------------------------------------
networks = st.lists(st.one_of(st.ip_addresses(v=4).map(lambda a: ipaddress.ip_network(f"{a}/8", strict=False)),
                              st.ip_addresses(v=6).map(lambda a: ipaddress.ip_network(f"{a}/64", strict=False)),
                              st.sampled_from([ipaddress.ip_network("127.0.0.0/8"),
                                               ipaddress.ip_network("0.0.0.0/0"),
                                               ipaddress.ip_network("::/0")])),
                    max_size=4)


def _candidate_address(line: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    fields = line.split()
    try:
        return ipaddress.ip_address(fields[4])
    except (IndexError, ValueError):
        return None


def _allowed(line: str, allowed: list) -> bool:  # type: ignore[type-arg]
    address = _candidate_address(line)
    return len(line.split()) >= 8 and address is not None and any(address in n for n in allowed)


@FAST
@example("a=candidate: 1 udp 1 10.0.0.1 5000 typ host\r\n", [ipaddress.ip_network("10.0.0.0/8")])
@example("a=candidate:x 1 udp 1 fe80::1%eth0 5000 typ host", [ipaddress.ip_network("fe80::/10")])
@given(st.one_of(sdp_like(), any_text, st.lists(candidate_lines, max_size=8).map("\r\n".join)), networks)
def test_filter_candidates(sdp: str, allowed: list) -> None:  # type: ignore[type-arg]
    try:
        filtered, dropped = filter_candidates(sdp, allowed)
    except ClientError:
        return
    # Only candidate lines go; the rest stays as it was, in order.
    before = sdp.splitlines()
    expected = [line for line in before
                if not line.startswith("a=candidate:") or _allowed(line, allowed)]
    assert filtered == "\r\n".join(expected) + "\r\n"
    assert dropped == len(before) - len(expected)
    kept = filtered.split("\r\n")
    # What aiortc reads (it splits lines the same way) holds only allowed candidates,
    # parsed its own way: no line means one address to us and another to aiortc.
    for line in kept:
        if line.startswith("a=candidate:"):
            address = _candidate_address(line)
            assert address is not None and any(address in n for n in allowed), line
            try:
                parsed = candidate_from_sdp(line[len("a=candidate:"):])
            except Exception:  # noqa: BLE001, S112 - aiortc refuses it: the offer gets a 400
                continue
            assert ipaddress.ip_address(parsed.ip) == address, line


# -- HLS media names -------------------------------------------------------------------
@FAST
@given(st.one_of(any_text, st.from_regex(r"seg[0-9\u0660-\u0669]{1,11}(\.[0-9]{1,5})?\.m4s\n?", fullmatch=True)))
def test_parse_media_name(name: str) -> None:
    parsed = parse_media_name(name)
    if parsed is not None:
        msn, part = parsed
        # Only the names we write parse: one object, one name.
        assert name == (segment_name(msn) if part is None else part_name(msn, part))


@FAST
@given(st.integers(0, 10**9 - 1), st.none() | st.integers(0, 9999))
def test_media_names_round_trip(msn: int, part: int | None) -> None:
    name = segment_name(msn) if part is None else part_name(msn, part)
    assert parse_media_name(name) == (msn, part)


@pytest.mark.parametrize("name", ["seg01.m4s", "seg1.01.m4s", "seg\u0663.m4s", "seg1.m4s\n",
                                  "seg1.\u0661.m4s", "seg1.m4s "])
def test_non_canonical_media_names_are_refused(name: str) -> None:
    # Found by fuzzing: these parsed (regex `\d` and `$`), named no stored object, and a
    # "nearby" one held the request for a blocking-preload timeout before its 404.
    assert parse_media_name(name) is None


# -- configuration ---------------------------------------------------------------------
env_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60)
ENV_FIELDS = ("HOST", "PORT", "PUBLIC_URL", "DATA_DIR", "DATABASE_URL", "RECORDINGS_DIR",
              "ICE_HOST_ADDRESSES", "ICE_ALLOWED_NETWORKS", "HLSJS_DIR", "SESSION_COOKIE_SECURE",
              "SIGNIN_BURST", "SIGNUP_BURST", "LOG_LEVEL", "LOG_FORMAT")
env_values = st.dictionaries(
    st.sampled_from(ENV_FIELDS),
    st.one_of(env_text, addresses, st.lists(addresses, max_size=3).map(",".join),
              st.integers(-2**64, 2**64).map(str), st.sampled_from(["auto", "true", "info", "json"])),
    max_size=5,
)


@settings(FAST, max_examples=200)
@given(env_values)
@example({"ICE_ALLOWED_NETWORKS": "garbage"})  # found by fuzzing: raised on first use
@example({"ICE_ALLOWED_NETWORKS": "10.0.0.0/8,, ::1/128 "})
@example({"ICE_HOST_ADDRESSES": "127.0.0.1,not-an-ip"})
def test_settings_from_any_environment(values: dict[str, str]) -> None:
    env = {f"TOWNHALL_{k}": v for k, v in values.items()}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TOWNHALL_")}
    with mock.patch.dict(os.environ, {**clean, **env}, clear=True):
        try:
            config = Settings(_env_file=None)  # type: ignore[call-arg]
        except ValidationError:
            return
    # Whatever was accepted is usable: nothing parses lazily and fails later.
    assert isinstance(config.allowed_networks, list)
    addresses_ = config.advertised_addresses
    assert addresses_ is None or all(ipaddress.ip_address(a) for a in addresses_)
    assert config.base_url and config.db_url and config.recordings_path


def test_garbage_networks_are_refused_when_read() -> None:
    with pytest.raises(ValidationError, match="is not a network"):
        Settings(_env_file=None, ice_allowed_networks="127.0.0.0/8,garbage")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="is not an IP address"):
        Settings(_env_file=None, ice_host_addresses="localhost")  # type: ignore[call-arg]


# -- HLS over HTTP ---------------------------------------------------------------------
query_values = st.one_of(
    st.integers(-2**70, 2**70).map(str),
    st.integers(0, 50).map(str),
    st.sampled_from(["", "-0", "+1", "1e3", "0x10", " 1", "1 ", "١", "NaN", "inf", "1.0",
                     "99999999999999999999999999", "%00", "null", "[]"]),
    st.text(max_size=20),
)
hls_names = st.one_of(
    st.sampled_from([INIT_NAME, "live.m3u8", "replay.m3u8", "seg0.m4s", "seg0.0.m4s", "seg01.m4s",
                     "..", ".", "seg1.m4s\n", "%2e%2e", "init.mp4\x00"]),
    st.from_regex(r"seg[0-9]{1,10}(\.[0-9]{1,5})?\.m4s", fullmatch=True),
    st.text(min_size=1, max_size=40),
)
space_ids = st.one_of(st.just("demo"), st.sampled_from(["..", ".", "%00", "demo\n", "x" * 17, "DEMO"]),
                      st.text(min_size=1, max_size=20))


def _assert_clear(response: httpx.Response) -> None:
    assert response.status_code < 500 or response.status_code == 503, (
        response.status_code, response.request.url, response.text[:300])
    if response.status_code >= 400:
        assert response.text.strip(), (response.status_code, response.request.url)
        assert response.headers.get("content-type"), response.request.url


def _path(segment: str) -> str:
    return quote(segment, safe="")


@HTTP
@given(msn=st.none() | query_values, part=st.none() | query_values, skip=st.none() | query_values)
@example(msn="99999999999999999999999", part="0", skip=None)
@example(msn="-1", part="-1", skip="YES")
@example(msn=None, part="0", skip=None)
def test_playlist_query_parameters(server: Server, msn: str | None, part: str | None,
                                   skip: str | None) -> None:
    params = {k: v for k, v in (("_HLS_msn", msn), ("_HLS_part", part), ("_HLS_skip", skip))
              if v is not None}
    response = httpx.get(f"{server.base_url}/hls/demo/live.m3u8", params=params, timeout=HTTP_TIMEOUT)
    _assert_clear(response)
    # 503 only for a blocking reload that timed out, never for bad input.
    assert response.status_code != 503 or "_HLS_msn" in params


@HTTP
@given(space_id=space_ids, name=hls_names)
@example(space_id="\x00", name=INIT_NAME)  # found by fuzzing: 500 (embedded null byte)
@example(space_id="\x00", name="replay.m3u8")  # ditto
@example(space_id="..", name="replay.m3u8")
def test_hls_paths(server: Server, space_id: str, name: str) -> None:
    url = f"{server.base_url}/hls/{_path(space_id)}/{_path(name)}"
    _assert_clear(httpx.get(url, timeout=HTTP_TIMEOUT))


def test_found_by_fuzzing_over_http(server: Server) -> None:
    """Regressions: each was a 5xx or an answer without a content type."""
    client = signed_in_client(server.base_url, "fuzzreg")
    cases = [
        (client.get("/hls/%00/init.mp4"), 404),
        (client.get("/hls/%00/replay.m3u8"), 404),
        (client.get("/hls/%00/live.m3u8"), 404),
        (client.delete("/api/me/blocks/99999999999999999999"), 422),  # was SQLite OverflowError
        (client.delete("/api/me/blocks/0"), 422),
        (client.get("/hls/nosuchspace/live.m3u8"), 404),  # was text without Content-Type
        (client.get("/hls/demo/seg999999.m4s"), 404),  # ditto
        (client.patch("/whip/demo/x"), 405),  # ditto
    ]
    client.close()
    for response, status in cases:
        assert response.status_code == status, (response.request.url, response.text)
        _assert_clear(response)


# -- WHIP offers over HTTP -------------------------------------------------------------
# Fuzzing tokens: the rate limit allows WHIP_BURST offers in a row per speaker.
WHIP_FUZZERS = 4
MAX_LISTENER_GAP_SECONDS = 1.5


async def test_whip_offers(server: Server) -> None:
    host = signed_in_client(server.base_url, "whipfuzzhost")
    space = live_space(host, "WHIP fuzz")
    creds = stage(host, space["id"])
    speaker = WhipPublisher(creds["whip_url"], creds["token"], SyntheticTrack(sine(440)))
    await speaker.start()
    tokens_: list[str] = []
    guests = []
    for _ in range(WHIP_FUZZERS):
        guest = signed_in_client(server.base_url, "whipfuzzer")
        invite_speaker(host, guest, space["id"])
        tokens_.append(stage(guest, space["id"])["token"])
        guests.append(guest)
    statuses: list[int] = []
    calls = iter(range(10**6))

    def fuzz() -> None:
        with httpx.Client(timeout=HTTP_TIMEOUT) as client:
            @settings(HTTP, max_examples=WHIP_FUZZERS * limits.WHIP_BURST - 4)
            @given(sdp_like())
            @example("\r\n".join(OFFER_LINES) + "\r\n")  # the unmutated offer: 201
            def post(sdp: str) -> None:
                token = tokens_[next(calls) % len(tokens_)]
                response = client.post(creds["whip_url"], content=sdp.encode("utf-8", "surrogatepass"),
                                       headers={"Content-Type": "application/sdp",
                                                "Authorization": f"Bearer {token}"})
                statuses.append(response.status_code)
                if response.status_code == 201:
                    location = response.headers["location"]
                    assert response.headers["content-type"].startswith("application/sdp")
                    gone = client.delete(f"{server.base_url}{location}",
                                         headers={"Authorization": f"Bearer {token}"})
                    assert gone.status_code == 200, gone.text
                else:
                    assert 400 <= response.status_code < 500, (response.status_code, response.text)
                    assert response.json()["detail"], response.text

            post()

    async with listening_throughout(space["hls_url"]) as reader:
        started = time.time()
        await asyncio.to_thread(fuzz)

    assert 201 in statuses and any(400 <= s < 500 for s in statuses), statuses
    assert largest_gap_since(reader, started) < MAX_LISTENER_GAP_SECONDS
    # The speaker on stage was never disturbed by the other speakers' bad offers.
    await speaker.wait_received(0.5, timeout=5)
    assert speaker.pc is not None and speaker.pc.connectionState == "connected"
    await speaker.stop()
    host.post(f"/api/spaces/{space['id']}/end")
    for c in (host, *guests):
        c.close()
