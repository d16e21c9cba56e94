"""Checks on a WHIP offer before aiortc sees it, and ICE candidate filtering."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from townhall import limits
from townhall.domain.errors import BadRequest, PayloadTooLarge

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def check_offer(body: bytes) -> str:
    """The offer as text, or a clear client error."""
    if len(body) > limits.MAX_SDP_BYTES:
        raise PayloadTooLarge(f"SDP offer is larger than {limits.MAX_SDP_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("SDP offer is not UTF-8 text") from exc
    lines = text.splitlines()
    if not lines or lines[0].strip() != "v=0":
        raise BadRequest("SDP offer must start with 'v=0'")
    media = [line for line in lines if line.startswith("m=")]
    if len(media) > limits.MAX_SDP_MEDIA_SECTIONS:
        raise BadRequest(f"SDP offer has more than {limits.MAX_SDP_MEDIA_SECTIONS} media sections")
    audio = [line for line in media if line.startswith("m=audio ")]
    if len(audio) != 1:
        raise BadRequest("SDP offer must have exactly one audio section")
    if not any(line.startswith("a=ice-ufrag:") for line in lines):
        raise BadRequest("SDP offer has no ICE credentials (a=ice-ufrag)")
    if not any(line.startswith("a=fingerprint:") for line in lines):
        raise BadRequest("SDP offer has no DTLS fingerprint (a=fingerprint)")
    return text


def filter_candidates(sdp: str, allowed: Sequence[Network]) -> tuple[str, int]:
    """Drop candidate lines whose address is outside `allowed` (or not an IP at all,
    like mDNS names). Returns the new SDP and how many candidates were dropped."""
    kept, dropped = [], 0
    for line in sdp.splitlines():
        if line.startswith("a=candidate:") and not _candidate_allowed(line, allowed):
            dropped += 1
            continue
        kept.append(line)
    return "\r\n".join(kept) + "\r\n", dropped


def _candidate_allowed(line: str, allowed: Sequence[Network]) -> bool:
    fields = line.split()
    if len(fields) < 8:
        return False
    try:
        address = ipaddress.ip_address(fields[4])
    except ValueError:
        return False
    return any(address in network for network in allowed)
