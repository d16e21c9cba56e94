"""aiortc, tuned (townhall/media/webrtc/aiortc_tuning.py): the vectorised audio level gives
aiortc's own answer on every kind of frame; Opus is decoded to mono frames the mixer takes
as they are."""

from __future__ import annotations

import fractions

import aiortc.rtp
import av
import numpy as np
import pytest

from townhall.media.webrtc.aiortc_tuning import (
    _AIORTC_AUDIO_LEVEL,
    audio_level_dbov,
    use_fast_audio_level,
)


def frame_of(samples: np.ndarray, layout: str = "mono") -> av.AudioFrame:
    channels = 2 if layout == "stereo" else 1
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout=layout)
    frame.sample_rate = 48000
    assert frame.samples * channels == samples.size
    return frame


@pytest.mark.parametrize("layout", ["mono", "stereo"])
def test_the_level_matches_aiortcs_on_random_tones_noise_and_silence(layout: str) -> None:
    rng = np.random.default_rng(6465)
    size = 960 * (2 if layout == "stereo" else 1)
    t = np.arange(size) / 48000
    cases = [np.zeros(size), np.full(size, 32767), np.full(size, -32768)]
    cases += [rng.integers(-32768, 32768, size) for _ in range(50)]
    cases += [a * np.sin(2 * np.pi * f * t) for a, f in ((1, 440), (30, 1000), (3000, 220),
                                                          (32767, 3000), (0.4, 50))]
    for pcm in cases:
        frame = frame_of(np.asarray(pcm).astype(np.int16), layout)
        assert audio_level_dbov(frame) == _AIORTC_AUDIO_LEVEL(frame)


def test_the_server_installs_it_and_can_restore_aiortcs() -> None:
    try:
        use_fast_audio_level()
        assert aiortc.rtp.compute_audio_level_dbov is audio_level_dbov
    finally:
        use_fast_audio_level(False)
    assert aiortc.rtp.compute_audio_level_dbov is _AIORTC_AUDIO_LEVEL



def test_opus_is_decoded_to_mono_frames_the_mixer_takes_as_they_are() -> None:
    import aiortc.rtcrtpreceiver
    from aiortc.codecs.opus import OpusEncoder
    from aiortc.jitterbuffer import JitterFrame
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    from townhall.media.sources import SpeakerInput
    from townhall.media.webrtc.aiortc_tuning import MonoOpusDecoder, decode_opus_in_mono
    from townhall.testing.audio import dominant_frequency

    opus = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2)
    try:
        decode_opus_in_mono()
        decoder = aiortc.rtcrtpreceiver.get_decoder(opus)
        assert isinstance(decoder, MonoOpusDecoder)
    finally:
        decode_opus_in_mono(False)
    assert not isinstance(aiortc.rtcrtpreceiver.get_decoder(opus), MonoOpusDecoder)
    # A browser-like sender (aiortc's encoder: stereo): 0.5 s of 700 Hz.
    encoder, decoded = OpusEncoder(), []
    t = np.arange(960 * 25) / 48000
    pcm = (8000 * np.sin(2 * np.pi * 700 * t)).astype(np.int16)
    speaker = SpeakerInput()
    for n in range(25):
        sent = frame_of(pcm[n * 960:(n + 1) * 960])
        sent.pts, sent.time_base = n * 960, fractions.Fraction(1, 48000)
        payloads, timestamp = encoder.encode(sent)
        for payload in payloads:
            for frame in decoder.decode(JitterFrame(data=payload, timestamp=timestamp)):
                assert frame.layout.name == "mono" and frame.samples == 960
                decoded.append(frame.to_ndarray().reshape(-1))
                speaker.push_frame(frame)
    assert abs(dominant_frequency(np.concatenate(decoded)[4800:]) - 700) < 10
    # Every frame reached the mixer's buffer as a whole tick (it keeps the newest few).
    assert speaker.level + speaker.dropped_ticks == 25


def test_decoding_in_place_reaches_the_mixer_and_stopping_ends_aiortcs_thread() -> None:
    import queue
    import threading

    from aiortc import RTCRtpReceiver
    from aiortc.codecs.opus import OpusEncoder
    from aiortc.jitterbuffer import JitterFrame
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    from townhall.media.webrtc.aiortc_tuning import DecodeInPlace, decode_in_place

    class NoTransport:  # what the receiver's constructor reads of its DTLS transport
        state = "new"

    receiver = RTCRtpReceiver("audio", NoTransport())
    original = receiver._RTCRtpReceiver__decoder_queue  # the attribute aiortc uses
    assert isinstance(original, queue.Queue)
    frames = []
    in_place = decode_in_place(receiver, frames.append)
    assert receiver._RTCRtpReceiver__decoder_queue is in_place
    opus = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2)
    sent = frame_of(np.zeros(960, np.int16))
    sent.pts, sent.time_base = 0, fractions.Fraction(1, 48000)
    payloads, timestamp = OpusEncoder().encode(sent)
    in_place.put((opus, JitterFrame(data=payloads[0], timestamp=timestamp)))
    in_place.put((opus, JitterFrame(data=b"\xff\xff\xff", timestamp=960)))  # damaged
    assert [f.samples for f in frames] == [960] and in_place.errors == 1
    # aiortc's thread waits in get(); the receiver stopping (put None) lets it go.
    waiting = threading.Thread(target=in_place.get)
    waiting.start()
    in_place.put(None)
    waiting.join(timeout=5)
    assert not waiting.is_alive() and original.get_nowait() is None
    assert isinstance(in_place, DecodeInPlace)


async def test_silence_the_sender_marks_is_not_decoded_and_reaches_the_mixer_as_zeros() -> None:
    from aiortc import RTCRtpReceiver
    from aiortc.codecs.opus import OpusEncoder
    from aiortc.jitterbuffer import JitterFrame
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters
    from aiortc.rtp import RtpPacket

    from townhall import limits
    from townhall.media.opus import OpusStream
    from townhall.media.webrtc.aiortc_tuning import decode_in_place, opus_samples

    class NoTransport:
        state = "new"

    # Packet lengths from real encoders: ours (mono) and aiortc's (stereo, as browsers).
    assert opus_samples(OpusStream().encode(np.zeros(960, np.int16))) == 960
    sent = frame_of(np.zeros(960, np.int16))
    sent.pts, sent.time_base = 0, fractions.Fraction(1, 48000)
    payloads, timestamp = OpusEncoder().encode(sent)
    assert opus_samples(payloads[0]) == 960 and opus_samples(b"") == 0
    receiver = RTCRtpReceiver("audio", NoTransport())
    frames = []
    in_place = decode_in_place(receiver, frames.append)
    opus = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2)
    tone = (8000 * np.sin(2 * np.pi * 500 * np.arange(960) / 48000)).astype(np.int16)

    async def arrives(level: int | None, pcm: np.ndarray) -> None:
        packet = RtpPacket(payload_type=111)
        packet.extensions.audio_level = None if level is None else (False, level)
        await receiver._handle_rtp_packet(packet, arrival_time_ms=0)  # notes the level
        frame = frame_of(pcm)
        frame.pts, frame.time_base = 0, fractions.Fraction(1, 48000)
        data, stamp = OpusEncoder().encode(frame)
        in_place.put((opus, JitterFrame(data=data[0], timestamp=stamp)))

    # The frame handed over is `prefetch` packets older than the newest (the server's
    # prefetch is 1): skipped only when the last two packets were both marked silent.
    assert limits.AIORTC_AUDIO_PREFETCH == 1
    await arrives(127, tone)  # the packet before it was not marked: decoded
    await arrives(127, tone)  # both marked silent (whatever they hold): zeros
    await arrives(limits.SILENT_AUDIO_LEVEL - 1, tone)  # newest quiet, not silent: decoded
    await arrives(127, tone)  # the one before it was not silent: decoded (speech's tail)
    await arrives(None, tone)  # no level sent: decoded
    assert in_place.skipped == 1 and [f.samples for f in frames] == [960] * 5
    assert [bool(f.to_ndarray().any()) for f in frames] == [True, False, True, True, True]


async def test_mix_minus_sent_directly_is_heard_by_the_peer_and_counted_in_its_reports() -> None:
    """Two aiortc peers over loopback: the server's track sends through DirectSend (no
    recv() of the track, no aiortc sending task), the other peer decodes a 440 Hz tone
    from it, and the sender's own statistics count every packet."""
    import asyncio

    from aiortc import RTCConfiguration, RTCPeerConnection

    from townhall import limits
    from townhall.media.opus import OpusStream
    from townhall.media.webrtc.aiortc_tuning import DirectSend, send_directly
    from townhall.media.webrtc.tracks import MixMinusTrack
    from townhall.testing.audio import dominant_frequency

    listener = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    server = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    heard: asyncio.Queue = asyncio.Queue()
    listener.on("track", heard.put_nowait)
    listener.addTransceiver("audio", direction="recvonly")
    try:
        await listener.setLocalDescription(await listener.createOffer())
        await server.setRemoteDescription(listener.localDescription)
        mix_minus = MixMinusTrack()
        mix_minus.direct = send_directly(server.addTrack(mix_minus))
        assert isinstance(mix_minus.direct, DirectSend)
        assert not mix_minus.direct.send(b"\xf8", 0)  # not connected yet: refused, no error
        await server.setLocalDescription(await server.createAnswer())
        await listener.setRemoteDescription(server.localDescription)
        track = await asyncio.wait_for(heard.get(), 10)

        opus = OpusStream()
        t = np.arange(limits.TICK_SAMPLES) / limits.SAMPLE_RATE
        sent = 0

        async def tick(n: int) -> None:
            """Feed packets `n` .. the way the mixer's loop callback does, at its pace."""
            nonlocal sent
            pcm = (8000 * np.sin(2 * np.pi * 440 * (t + n * limits.TICK_SAMPLES / limits.SAMPLE_RATE)))
            mix_minus.feed(opus.encode(pcm.astype(np.int16)))
            sent += 1
            await asyncio.sleep(limits.TICK_SAMPLES / limits.SAMPLE_RATE)

        async def feed_until_connected() -> None:
            n = 0
            while mix_minus.direct.sent == 0:  # DTLS not yet up: the clock runs on
                await tick(n)
                n += 1
            for k in range(n, n + 100):
                await tick(k)

        feeding = asyncio.create_task(feed_until_connected())
        frames = []
        while len(frames) < 60:
            frames.append((await asyncio.wait_for(track.recv(), 10)).to_ndarray())
        await feeding
        # aiortc decodes to interleaved stereo: the left channel.
        pcm = np.concatenate([f.reshape(-1)[::2] for f in frames[20:]])
        assert abs(dominant_frequency(pcm) - 440) < 10
        # The timestamps stepped a tick per packet, whichever were refused.
        assert mix_minus._pts == sent * limits.TICK_SAMPLES
        stats = await server.getSenders()[0].getStats()
        outbound = [s for s in stats.values() if s.type == "outbound-rtp"]
        assert outbound[0].packetsSent == mix_minus.direct.sent > 60
    finally:
        await server.close()
        await listener.close()
    # Closing ended the stand-in sending task; nothing goes out any more.
    assert not mix_minus.direct.send(b"\xf8", 0)
