"""Settings aiortc does not expose, applied process-wide by the server at startup."""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import queue
import threading
import time
from collections.abc import Callable

import aioice.ice
import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
import aiortc.rtp
import aiortc.utils
import av
import numpy as np
from aiortc.codecs.opus import OpusDecoder
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from townhall import limits

log = logging.getLogger(__name__)

_AIORTC_JITTER_BUFFER = aiortc.rtcrtpreceiver.JitterBuffer
_AIORTC_AUDIO_LEVEL = aiortc.rtp.compute_audio_level_dbov
_AIORTC_GET_DECODER = aiortc.rtcrtpreceiver.get_decoder
# RFC 6465's bounds on an audio level, in dBov.
_MAX_AUDIO_LEVEL = 0
_MIN_AUDIO_LEVEL = -127
_MAX_SAMPLE_VALUE = 32767


def set_audio_prefetch(audio_prefetch: int | None) -> None:
    """aiortc (1.16) builds every audio receiver with JitterBuffer(capacity=16,
    prefetch=4): 80 ms held back whatever the network does. Our per-speaker buffer
    (sources.SpeakerInput) already absorbs jitter, so the server asks for less.
    None restores aiortc's own class."""
    if audio_prefetch is None:
        aiortc.rtcrtpreceiver.JitterBuffer = _AIORTC_JITTER_BUFFER  # type: ignore[misc]
        return

    class AudioPrefetch(JitterBuffer):
        def __init__(self, capacity: int, prefetch: int = 0, is_video: bool = False) -> None:
            super().__init__(capacity, prefetch if is_video else audio_prefetch, is_video)

    aiortc.rtcrtpreceiver.JitterBuffer = AudioPrefetch  # type: ignore[misc]


def audio_level_dbov(frame: av.AudioFrame) -> int:
    """aiortc's `compute_audio_level_dbov` (RFC 6465, Appendix A) with numpy: the same
    bytes, the same sum (exact either way: 960 squares of int16 stay far below 2**53),
    the same rounding. aiortc's loops over every sample in Python on the event loop, for
    every outgoing audio frame of every peer: ~1 ms per 20 ms frame, the largest single
    cost of the loop in a burst (py-spy on benchmarks/burst_stall.py)."""
    samples = np.frombuffer(bytes(frame.planes[0]), dtype=np.int16).astype(np.int64)
    energy = float(np.dot(samples, samples))
    rms = math.sqrt(energy / (frame.samples * _MAX_SAMPLE_VALUE * _MAX_SAMPLE_VALUE))
    if rms <= 0:
        return _MIN_AUDIO_LEVEL
    return round(min(max(20 * math.log10(rms), _MIN_AUDIO_LEVEL), _MAX_AUDIO_LEVEL))


def use_fast_audio_level(enabled: bool = True) -> None:
    """The sender looks `rtp.compute_audio_level_dbov` up on every frame, so replacing
    the module's function is enough; False restores aiortc's own."""
    aiortc.rtp.compute_audio_level_dbov = (  # type: ignore[assignment]
        audio_level_dbov if enabled else _AIORTC_AUDIO_LEVEL)


class MonoOpusDecoder(OpusDecoder):
    """aiortc's Opus decoder, asked for mono: libopus mixes a stereo sender down itself,
    and the mixer (sources.SpeakerInput) then takes the frames as they are instead of
    resampling each one from stereo on the event loop (~24 us a frame a speaker)."""

    def __init__(self) -> None:
        super().__init__()
        self.codec.layout = "mono"


def _get_decoder(codec: RTCRtpCodecParameters):  # type: ignore[no-untyped-def]
    if codec.mimeType.lower() == "audio/opus":
        return MonoOpusDecoder()
    return _AIORTC_GET_DECODER(codec)


def decode_opus_in_mono(enabled: bool = True) -> None:
    """Receivers made from now on decode Opus to mono; False restores aiortc's own."""
    aiortc.rtcrtpreceiver.get_decoder = (  # type: ignore[assignment]
        _get_decoder if enabled else _AIORTC_GET_DECODER)


class DecodeInPlace:
    """Stands in for an audio receiver's decoder queue, so each frame is decoded where
    aiortc hands it over (on the event loop, ~25 us of C for 20 ms of Opus) and goes
    straight to the mixer's buffer.

    aiortc (1.16) decodes every audio frame in a thread of its own per receiver: a
    queue put that wakes that thread, then a coroutine scheduled back onto the loop
    per frame, then the track's queue. With a stage of 13 that was ~650 thread wake-ups
    and loop round trips a second, the largest single cost of a Space (py-spy:
    `Queue.put` -> `Condition.notify` alone ~5 % of a core). aiortc's thread still runs,
    but only waits here until the receiver stops."""

    def __init__(self, original: queue.Queue, deliver: Callable[[av.AudioFrame], None]) -> None:
        self._original = original
        self._deliver = deliver
        self._decoders: dict[str, object] = {}
        self._stopped = threading.Event()
        self.errors = 0
        # The newest packets' RFC 6464 audio levels (0 loud .. 127 silent, -dBov; None
        # when the sender sends none). aiortc's jitter buffer hands over a frame only
        # once `prefetch` newer packets arrived, so a frame is known silent when all of
        # the last prefetch + 1 were: its own level is among them.
        self.levels: collections.deque[int | None] = collections.deque(
            maxlen=limits.AIORTC_AUDIO_PREFETCH + 1)
        self.skipped = 0  # silent Opus frames not decoded

    def put(self, task: tuple[RTCRtpCodecParameters, object] | None) -> None:
        if task is None:  # the receiver stops: let its thread finish, wherever it waits
            self._stopped.set()
            self._original.put(None)
            return
        codec, encoded_frame = task
        if codec.name == "opus" and self.silent():
            samples = opus_samples(encoded_frame.data)  # type: ignore[attr-defined]
            if samples:  # the sender says it is silence: no need to decode it
                self.skipped += 1
                self._deliver(silent_frame(samples))
                return
        decoder = self._decoders.get(codec.name)
        if decoder is None:
            decoder = self._decoders[codec.name] = aiortc.rtcrtpreceiver.get_decoder(codec)
        try:
            frames = decoder.decode(encoded_frame)  # type: ignore[attr-defined]
        except av.FFmpegError as exc:  # a damaged frame: skip it, keep the decoder
            self.errors += 1
            log.debug("dropped an audio frame that did not decode: %s", exc)
            return
        for frame in frames:
            self._deliver(frame)

    def silent(self) -> bool:
        levels = self.levels
        return len(levels) == levels.maxlen and all(
            level is not None and level >= limits.SILENT_AUDIO_LEVEL for level in levels)

    def get(self) -> None:
        """aiortc's decoder thread waits here; None when the receiver stops ends it."""
        self._stopped.wait()


def decode_in_place(receiver: aiortc.RTCRtpReceiver,
                    deliver: Callable[[av.AudioFrame], None]) -> DecodeInPlace:
    """Decode `receiver`'s audio where it arrives and give each frame to `deliver`
    (called on the event loop) instead of to its track. Call before media flows (on
    the peer connection's "track" event)."""
    name = "_RTCRtpReceiver__decoder_queue"  # aiortc's private attribute, checked in tests
    in_place = DecodeInPlace(getattr(receiver, name), deliver)
    setattr(receiver, name, in_place)
    handle = receiver._handle_rtp_packet

    async def noting_the_level(packet: aiortc.rtp.RtpPacket, arrival_time_ms: int) -> None:
        level = packet.extensions.audio_level  # (voice activity, level) or None
        in_place.levels.append(None if level is None else level[1])
        await handle(packet, arrival_time_ms)

    receiver._handle_rtp_packet = noting_the_level  # type: ignore[method-assign]
    return in_place


# Frame durations of an Opus packet's TOC configuration (RFC 6716 section 3.1), in
# 1/400 s so 2.5 ms is whole: SILK 10/20/40/60 ms, hybrid 10/20, CELT 2.5/5/10/20.
_SILK, _HYBRID, _CELT = (4, 8, 16, 24), (4, 8), (1, 2, 4, 8)


def opus_samples(packet: bytes, rate: int = limits.SAMPLE_RATE) -> int:
    """Samples (per channel) an Opus packet decodes to; 0 if it is not a valid one."""
    if not packet:
        return 0
    config, code = packet[0] >> 3, packet[0] & 3
    quarter_ms = (_SILK[config % 4] if config < 12 else
                  _HYBRID[config % 2] if config < 16 else _CELT[config % 4])
    if code == 0:
        frames = 1
    elif code in (1, 2):
        frames = 2
    elif len(packet) > 1:
        frames = packet[1] & 0x3F
    else:
        return 0
    return rate * quarter_ms * frames // 400


_SILENT_TICK = av.AudioFrame.from_ndarray(np.zeros((1, limits.TICK_SAMPLES), np.int16),
                                          format="s16", layout="mono")
_SILENT_TICK.sample_rate = limits.SAMPLE_RATE


def silent_frame(samples: int) -> av.AudioFrame:
    """Zeros for `samples` samples (one shared frame for the usual 20 ms: it is only read)."""
    if samples == limits.TICK_SAMPLES:
        return _SILENT_TICK
    frame = av.AudioFrame.from_ndarray(np.zeros((1, samples), np.int16), format="s16", layout="mono")
    frame.sample_rate = limits.SAMPLE_RATE
    return frame


# Seconds between 1900 (NTP's epoch) and 1970 (Unix time's).
_NTP_EPOCH_OFFSET = 2_208_988_800


class DirectSend:
    """Sends a speaker's pre-encoded mix-minus straight out of the peer connection's
    SRTP session and ICE pair, synchronously, from the one loop callback per tick that
    hands every speaker their packet (townhall/media/space_media.py).

    aiortc (1.16) sends from a coroutine per sender: each 20 ms packet was a queue put,
    a task woken, the packet re-timed through Fractions, two `datetime` clocks, and an
    await down each of the DTLS, ICE and UDP layers: with a stage of 13, 650 wake-ups a
    second and the largest share of the loop's per-packet Python (py-spy on
    benchmarks/space_cpu.py). The RTP packet is the one aiortc would build (its
    RtpPacket, header extensions and SRTP session); its RTCP sender reports keep their
    counts. aiortc's own sending coroutine is replaced by one that only waits to stop.
    """

    _PRIVATE = ("_RTCRtpSender__rtp_started", "_RTCRtpSender__rtp_exited",
                "_RTCRtpSender__rtp_header_extensions_map", "_RTCRtpSender__mid",
                "_RTCRtpSender__packet_count", "_RTCRtpSender__octet_count")

    def __init__(self, sender: aiortc.RTCRtpSender) -> None:
        missing = [name for name in self._PRIVATE if not hasattr(sender, name)]
        if missing:  # another aiortc: its own sending path stays
            raise AttributeError(f"aiortc's RTCRtpSender has no {missing}")
        self._sender = sender
        self._codec: RTCRtpCodecParameters | None = None  # set once aiortc starts it
        self._sequence = aiortc.rtcrtpsender.random_sequence_number()
        self._timestamp_origin = aiortc.utils.random32()
        self.sent = 0
        sender._run_rtp = self._wait_until_stopped  # type: ignore[method-assign]

    async def _wait_until_stopped(self, codec: RTCRtpCodecParameters) -> None:
        """Stands in for aiortc's `_run_rtp`: started with the negotiated codec once
        DTLS is up, cancelled by the sender's stop()."""
        sender = self._sender
        self._codec = codec
        sender._RTCRtpSender__rtp_started.set()  # type: ignore[attr-defined]
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            pass
        finally:
            self._codec = None
            sender._RTCRtpSender__rtp_exited.set()  # type: ignore[attr-defined]

    def send(self, payload: bytes, pts: int) -> bool:
        """Send one Opus packet whose first sample is `pts` (48 kHz); False while the
        connection cannot carry it (not yet connected, or closing)."""
        codec, sender = self._codec, self._sender
        dtls = sender.transport
        if codec is None or dtls.state != "connected":
            return False
        pair = dtls.transport._connection._nominated.get(1)
        # A host candidate's plain UDP socket (the server has no TURN relay, whose
        # protocol would wrap the data: aiortc's own path would be needed there).
        if pair is None or not isinstance(pair.protocol, aioice.ice.StunProtocol):
            return False
        udp = pair.protocol.transport
        if udp is None:
            return False
        ntp = int((time.time() + _NTP_EPOCH_OFFSET) * (1 << 32))
        packet = aiortc.rtp.RtpPacket(
            payload_type=codec.payloadType, marker=1, sequence_number=self._sequence,
            timestamp=aiortc.utils.uint32_add(self._timestamp_origin, pts),
            ssrc=sender._ssrc, payload=payload)
        packet.extensions.abs_send_time = (ntp >> 14) & 0x00FFFFFF
        packet.extensions.mid = sender._RTCRtpSender__mid  # type: ignore[attr-defined]
        data = packet.serialize(sender._RTCRtpSender__rtp_header_extensions_map)  # type: ignore[attr-defined]
        try:
            udp.sendto(dtls._tx_srtp.protect(data), pair.remote_addr)
        except (OSError, AttributeError):  # the connection is going away
            return False
        self._sequence = aiortc.utils.uint16_add(self._sequence, 1)
        # What aiortc's RTCP sender reports say about this stream.
        sender._RTCRtpSender__ntp_timestamp = ntp  # type: ignore[attr-defined]
        sender._RTCRtpSender__rtp_timestamp = packet.timestamp  # type: ignore[attr-defined]
        sender._RTCRtpSender__octet_count += len(payload)  # type: ignore[attr-defined]
        sender._RTCRtpSender__packet_count += 1  # type: ignore[attr-defined]
        self.sent += 1
        return True


def send_directly(sender: aiortc.RTCRtpSender) -> DirectSend | None:
    """A DirectSend for `sender`, or None (aiortc's own sending path) with an aiortc
    whose insides differ from the pinned one's."""
    try:
        return DirectSend(sender)
    except AttributeError:
        log.warning("aiortc's sender is not the one expected: mix-minus goes through it")
        return None
