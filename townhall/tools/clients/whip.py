"""A WHIP publisher (aiortc): sends a synthetic track, records the mix-minus it gets."""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Callable, Sequence
from urllib.parse import urljoin

import av
import httpx
import numpy as np
import aioice.ice
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from townhall import limits


def advertise_only(addresses: Sequence[str] | None) -> None:
    """Offer ICE host candidates on exactly these addresses (None: aioice's own choice).
    Process-wide, as aioice has no per-connection setting (the server patches the same
    way; a client never imports the server)."""
    if addresses is None:
        aioice.ice.get_host_addresses = _aioice_host_addresses
        return
    chosen = list(addresses)
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [
        a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)
    ]


_aioice_host_addresses = aioice.ice.get_host_addresses

TIME_BASE = fractions.Fraction(1, limits.SAMPLE_RATE)
# Seconds to wait for the WHIP answer (ICE gathering on the server included).
WHIP_TIMEOUT = 15.0
# After a lost connection: first retry after 0.5 s, doubling to 5 s, for at most 2 min.
RECONNECT_FIRST_DELAY = 0.5
RECONNECT_MAX_DELAY = 5.0
RECONNECT_FOR_SECONDS = 120.0
# The server sends the mix-minus (silence included) every 20 ms: nothing for this long
# means the server is gone (a crashed node sends no ICE failure; consent checks take
# ~30 s to notice), so publish again (a cluster hands the Space to another node).
MEDIA_TIMEOUT = 1.5

SampleSource = Callable[[int, int], np.ndarray]  # (first sample, count) -> mono int16


def sine(frequency: float, amplitude: float = 0.3) -> SampleSource:
    def samples(start: int, count: int) -> np.ndarray:
        t = (start + np.arange(count)) / limits.SAMPLE_RATE
        return (np.sin(2 * np.pi * frequency * t) * amplitude * 32767).astype(np.int16)

    return samples


class SyntheticTrack(MediaStreamTrack):
    """A real-time audio track from a sample function. `sent` holds (first sample,
    wall clock time) of every frame as it was handed to the encoder."""

    kind = "audio"

    def __init__(self, source: SampleSource) -> None:
        super().__init__()
        self.source = source
        self._start: float | None = None
        self._next = 0
        self.on_frame: Callable[[int, float], None] | None = None

    def continued(self) -> SyntheticTrack:
        """A new live track going on from where this one is in the sound."""
        track = SyntheticTrack(self.source)
        track._start, track._next, track.on_frame = self._start, self._next, self.on_frame
        return track

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            wait = self._start + self._next / limits.SAMPLE_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        pcm = self.source(self._next, limits.TICK_SAMPLES)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = limits.SAMPLE_RATE
        frame.pts = self._next
        frame.time_base = TIME_BASE
        if self.on_frame is not None:
            self.on_frame(self._next, time.time())
        self._next += limits.TICK_SAMPLES
        return frame


class WhipPublisher:
    """Publish one track to a WHIP endpoint and keep the audio received back."""

    def __init__(
        self,
        whip_url: str,
        token: str,
        track: MediaStreamTrack,
        host_addresses: Sequence[str] | None = ("127.0.0.1",),
    ) -> None:
        self.whip_url = whip_url
        self.token = token
        self.track = track
        self.host_addresses = host_addresses
        self.pc: RTCPeerConnection | None = None
        self.location: str | None = None
        self.received: list[np.ndarray] = []
        self.received_times: list[float] = []  # wall clock time each frame arrived
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=limits.SAMPLE_RATE)
        self._reader: asyncio.Task[None] | None = None
        self.auto_reconnect = True
        self.reconnects = 0
        self._stopping = False
        self._offline_until = 0.0
        self._reconnecting: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self.media_timeouts = 0  # reconnects started because the server went silent
        self.connected_to: str | None = None  # the WHIP URL that answered last
        self.connected_at = 0.0  # wall clock time of the last successful publish

    @property
    def received_samples(self) -> int:
        return sum(chunk.shape[0] for chunk in self.received)

    def received_pcm(self, last_seconds: float | None = None) -> np.ndarray:
        pcm = np.concatenate(self.received) if self.received else np.zeros(0, np.int16)
        if last_seconds is not None:
            pcm = pcm[-int(last_seconds * limits.SAMPLE_RATE) :]
        return pcm

    async def start(self) -> None:
        advertise_only(self.host_addresses)
        await self._connect()

    async def _connect(self) -> None:
        if self.track.readyState == "ended" and isinstance(self.track, SyntheticTrack):
            # aiortc ends local tracks when their connection closes; a browser's
            # microphone track lives on, so continue the same sound on a new track.
            self.track = self.track.continued()
        self.pc = pc = RTCPeerConnection()
        pc.addTransceiver(self.track, direction="sendrecv")

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._reader = asyncio.create_task(self._read(track))

        @pc.on("connectionstatechange")
        def on_state() -> None:
            lost = pc.connectionState in ("failed", "closed") and pc is self.pc
            if lost and self.auto_reconnect and not self._stopping:
                self._reconnecting = asyncio.create_task(self._reconnect())

        await pc.setLocalDescription(await pc.createOffer())
        # A cluster node that does not own the Space redirects (307) to the one that does.
        async with httpx.AsyncClient(timeout=WHIP_TIMEOUT, follow_redirects=True) as client:
            response = await client.post(
                self.whip_url,
                content=pc.localDescription.sdp,
                headers={
                    "Content-Type": "application/sdp",
                    "Authorization": f"Bearer {self.token}",
                },
            )
        if response.status_code != 201:
            await pc.close()
            raise RuntimeError(f"WHIP publish failed: {response.status_code} {response.text}")
        # Relative to the URL that answered (after any redirect).
        self.location = urljoin(str(response.url), response.headers["location"])
        self.connected_to = str(response.url)
        self.connected_at = time.time()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=response.text, type="answer"))
        if self._watchdog is None:
            self._watchdog = asyncio.create_task(self._watch_media())

    async def _watch_media(self) -> None:
        """Reconnect when the mix-minus stops arriving (see MEDIA_TIMEOUT)."""
        while not self._stopping:
            await asyncio.sleep(MEDIA_TIMEOUT / 3)
            last = self.received_times[-1] if self.received_times else None
            silent = last is not None and time.time() - max(last, self.connected_at) > MEDIA_TIMEOUT
            busy = self._reconnecting is not None and not self._reconnecting.done()
            if silent and self.auto_reconnect and not busy and self.pc is not None:
                self.media_timeouts += 1
                pc, self.pc = self.pc, None
                self._reconnecting = asyncio.create_task(self._reconnect())
                await pc.close()

    async def _reconnect(self) -> None:
        """The connection died: publish again with the same token (the server replaces
        the old resource), backing off, until it works or the time is up."""
        deadline = time.monotonic() + RECONNECT_FOR_SECONDS
        delay = RECONNECT_FIRST_DELAY
        while not self._stopping and time.monotonic() < deadline:
            await asyncio.sleep(max(delay, self._offline_until - time.monotonic()))
            try:
                await self._connect()
            except (RuntimeError, httpx.HTTPError, OSError):
                delay = min(delay * 2, RECONNECT_MAX_DELAY)
                continue
            self.reconnects += 1
            return

    async def simulate_outage(self, seconds: float) -> None:
        """Test aid: the network is gone for `seconds`: the connection dies now and no
        packet (nor a reconnect) gets through until it is back."""
        self._offline_until = time.monotonic() + seconds
        assert self.pc is not None
        await self.pc.close()

    async def _read(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                now = time.time()
                for out in self._resampler.resample(frame):
                    self.received.append(out.to_ndarray().reshape(-1))
                    self.received_times.append(now)
        except MediaStreamError:
            pass

    async def wait_received(self, seconds: float, timeout: float) -> None:
        """Wait until `seconds` more audio than now has arrived."""
        target = self.received_samples + int(seconds * limits.SAMPLE_RATE)
        deadline = time.monotonic() + timeout
        while self.received_samples < target:
            if time.monotonic() > deadline:
                raise TimeoutError(f"received {self.received_samples} of {target} samples")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._stopping = True
        for task in (self._reconnecting, self._watchdog):
            if task is not None:
                task.cancel()
        if self.location:
            async with httpx.AsyncClient(timeout=WHIP_TIMEOUT) as client:
                await client.delete(self.location, headers={"Authorization": f"Bearer {self.token}"})
            self.location = None
        if self._reader is not None:
            self._reader.cancel()
        if self.pc is not None:
            await self.pc.close()
