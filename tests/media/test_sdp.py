import ipaddress

import pytest

from townhall.domain.errors import BadRequest, PayloadTooLarge
from townhall.media.webrtc.sdp import check_offer, filter_candidates
from townhall import limits

OFFER = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:abcd\r\na=ice-pwd:x\r\n"
    "a=fingerprint:sha-256 00\r\n"
    "a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\n"
    "a=candidate:2 1 udp 2122260223 192.168.1.9 50001 typ host\r\n"
    "a=candidate:3 1 udp 2122260223 8.8.8.8 50002 typ host\r\n"
    "a=candidate:4 1 udp 2122260223 4f2c.local 50003 typ host\r\n"
)


def test_valid_offer_passes() -> None:
    assert check_offer(OFFER.encode()) == OFFER


@pytest.mark.parametrize(
    "body",
    [b"", b"hello", b"v=0\r\n\xff", OFFER.replace("m=audio", "m=video").encode(),
     OFFER.replace("a=fingerprint", "a=nothing").encode()],
)
def test_bad_offers_are_client_errors(body: bytes) -> None:
    with pytest.raises(BadRequest):
        check_offer(body)


def test_oversized_offer() -> None:
    with pytest.raises(PayloadTooLarge):
        check_offer(b"v=0\r\n" + b"x" * limits.MAX_SDP_BYTES)


def test_candidates_outside_allowed_networks_are_dropped() -> None:
    loopback = [ipaddress.ip_network("127.0.0.0/8")]
    sdp, dropped = filter_candidates(OFFER, loopback)
    assert dropped == 3
    assert "127.0.0.1 50000" in sdp and "192.168.1.9" not in sdp and ".local" not in sdp
