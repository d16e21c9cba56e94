"""WHIP (RFC 9725) resources: one aiortc peer connection per publishing speaker.

The speaker's audio goes into the Space's mixer; the same connection carries their
mix-minus back. Authorization and Space rules are decided by the API layer first.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from townhall import limits
from townhall.domain.errors import BadRequest, Conflict
from townhall.media.webrtc.sdp import Network, filter_candidates
from townhall.media.sources import SpeakerInput
from townhall.media.space_media import SpaceMedia
from townhall.media.webrtc.aiortc_tuning import decode_in_place, send_directly
from townhall.media.webrtc.tracks import MixMinusTrack, pump_track

log = logging.getLogger(__name__)

_aioice_host_addresses = aioice.ice.get_host_addresses


def advertise_only(addresses: Sequence[str] | None) -> None:
    """Make aioice gather host candidates on exactly these addresses (None: its own
    choice of every non-loopback interface). Process-wide: aioice has no per-connection
    setting for it."""
    if addresses is None:
        aioice.ice.get_host_addresses = _aioice_host_addresses
    else:
        chosen = list(addresses)
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [
            a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)
        ]


_aioice_request_received = aioice.ice.Connection.request_received


def accept_only(networks: Sequence[Network] | None) -> None:
    """Ignore ICE connectivity checks from outside `networks` (None: accept all).

    Candidates in the offer are filtered by filter_candidates; this also stops aioice
    from learning peer-reflexive candidates from checks sent by anyone else, so the
    server never answers or sends media to an address outside the allowed networks.
    """
    if networks is None:
        aioice.ice.Connection.request_received = _aioice_request_received
        return
    allowed = list(networks)

    def request_received(self, message, addr, protocol):  # type: ignore[no-untyped-def]
        try:
            address = ipaddress.ip_address(addr[0])
        except ValueError:
            return
        if any(address in network for network in allowed):
            _aioice_request_received(self, message, addr, protocol)

    aioice.ice.Connection.request_received = request_received


@dataclass
class WhipResource:
    id: str
    space_id: str
    user_id: int
    pc: RTCPeerConnection
    media: SpaceMedia
    speaker_input: SpeakerInput
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class WhipEndpoint:
    def __init__(
        self,
        allowed_networks: Sequence[Network],
        on_stage_change: Callable[[str, int, bool], None] | None = None,
    ) -> None:
        self.allowed_networks = list(allowed_networks)
        self.resources: dict[str, WhipResource] = {}
        self._pending: list[tuple[int, str]] = []  # (user, Space) offers being answered
        self.errors = 0
        # (space_id, user_id, on stage?) after a speaker connects or leaves, for clients.
        self.on_stage_change = on_stage_change

    def speakers(self) -> int:
        """Connections open here plus offers being answered (each will be mixed)."""
        return len(self.resources) + len(self._pending)

    def find(self, space_id: str, user_id: int) -> list[WhipResource]:
        return [
            r for r in self.resources.values() if r.space_id == space_id and r.user_id == user_id
        ]

    async def publish(
        self, media: SpaceMedia, user_id: int, offer_sdp: str, muted: bool = False
    ) -> tuple[WhipResource, str]:
        """Answer an offer; the speaker is in the mix once media flows. The caller holds
        the Space's lock (townhall/app/stage.py); the per-person limit across Spaces is
        checked and reserved here before anything is awaited, so offers sent at once to
        many Spaces cannot all pass it."""
        elsewhere = self._spaces_of(user_id) - {media.space_id}
        if len(elsewhere) >= limits.MAX_WHIP_CONNECTIONS_PER_USER:
            raise Conflict(
                f"you are already speaking in {len(elsewhere)} other Spaces "
                f"(at most {limits.MAX_WHIP_CONNECTIONS_PER_USER} at once)"
            )
        reservation = (user_id, media.space_id)
        self._pending.append(reservation)
        try:
            return await self._answer(media, user_id, offer_sdp, muted)
        finally:
            self._pending.remove(reservation)

    def _spaces_of(self, user_id: int) -> set[str]:
        """The Spaces this person is connected to or has an offer being answered in."""
        spaces = {r.space_id for r in self.resources.values() if r.user_id == user_id}
        return spaces | {space for user, space in self._pending if user == user_id}

    async def _answer(self, media: SpaceMedia, user_id: int, offer_sdp: str,
                      muted: bool) -> tuple[WhipResource, str]:
        sdp, dropped = filter_candidates(offer_sdp, self.allowed_networks)
        if dropped:
            log.info("dropped %d ICE candidates outside the allowed networks", dropped)
        resource_id = secrets.token_urlsafe(12)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        mix_minus = MixMinusTrack()
        speaker_input = media.add_speaker(resource_id, mix_minus)
        speaker_input.muted = muted
        resource = WhipResource(resource_id, media.space_id, user_id, pc, media, speaker_input)

        @pc.on("track")
        def on_track(track) -> None:  # type: ignore[no-untyped-def]
            if track.kind != "audio":
                return
            receiver = next((r for r in pc.getReceivers() if r.track is track), None)
            if receiver is not None:  # frames decoded as they arrive, straight to the mix
                decode_in_place(receiver, speaker_input.push_frame)
            else:
                resource.tasks.append(asyncio.create_task(pump_track(track, speaker_input)))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self.close(resource_id)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            mix_minus.direct = send_directly(pc.addTrack(mix_minus))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # aiortc raises ValueError and others on bad SDP
            media.remove_speaker(resource_id)
            await pc.close()
            self.errors += 1
            raise BadRequest(f"SDP offer rejected: {exc}") from exc
        # One connection per speaker: a reconnecting client replaces its old one, once
        # the new offer has been accepted (a bad offer must not cut off a live speaker).
        for old in self.find(media.space_id, user_id):
            await self.close(old.id)
        self.resources[resource_id] = resource
        log.info("speaker connected", extra={"space": media.space_id, "user": user_id})
        if self.on_stage_change is not None:
            self.on_stage_change(media.space_id, user_id, True)
        answer, _ = filter_candidates(pc.localDescription.sdp, self.allowed_networks)
        return resource, answer

    async def close(self, resource_id: str) -> None:
        resource = self.resources.pop(resource_id, None)
        if resource is None:
            return
        resource.media.remove_speaker(resource_id)
        for task in resource.tasks:
            task.cancel()
        await resource.pc.close()
        log.info("speaker left", extra={"space": resource.space_id, "user": resource.user_id})
        if self.on_stage_change is not None and not self.find(resource.space_id, resource.user_id):
            self.on_stage_change(resource.space_id, resource.user_id, False)

    def set_muted(self, space_id: str, user_id: int, muted: bool) -> None:
        for resource in self.find(space_id, user_id):
            resource.speaker_input.muted = muted

    async def close_user(self, space_id: str, user_id: int) -> None:
        for resource in self.find(space_id, user_id):
            await self.close(resource.id)

    async def close_space(self, space_id: str) -> None:
        for resource in [r for r in self.resources.values() if r.space_id == space_id]:
            await self.close(resource.id)

    async def close_all(self) -> None:
        for resource_id in list(self.resources):
            await self.close(resource_id)
