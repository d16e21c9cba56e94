"""Mix-minus as Opus (townhall/media/opus.py): talkers get a mix without their own voice,
everyone else one shared program encode; checked by decoding the packets and reading
the tones in them."""

from __future__ import annotations

import av
import numpy as np

from townhall import limits
from townhall.media.mixer import mix
from townhall.media.opus import MixMinusEncoders
from townhall.testing.audio import dominant_frequency, spectrum

TICKS = 50  # one second
AMPLITUDE = 0.2 * 32767


def tone(hz: float, tick: int) -> np.ndarray:
    t = (np.arange(limits.TICK_SAMPLES) + tick * limits.TICK_SAMPLES) / limits.SAMPLE_RATE
    return (AMPLITUDE * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def silence() -> np.ndarray:
    return np.zeros(limits.TICK_SAMPLES, np.int16)


def level(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(pcm.astype(np.float64) / 32768))))


class Decoders:
    """One Opus decoder per listener, as each listener's browser has."""

    def __init__(self) -> None:
        self._codecs: dict[str, av.CodecContext] = {}
        self.pcm: dict[str, list[np.ndarray]] = {}

    def feed(self, packets: dict[str, bytes]) -> None:
        for key, data in packets.items():
            codec = self._codecs.setdefault(key, av.CodecContext.create("libopus", "r"))
            for frame in codec.decode(av.Packet(data)):
                # Packed stereo (L R L R ...), as aiortc's decoder gives it: keep left.
                self.pcm.setdefault(key, []).append(frame.to_ndarray()[0][::2])

    def last_second(self, key: str) -> np.ndarray:
        return np.concatenate(self.pcm[key])[-limits.SAMPLE_RATE:].astype(np.float64)


def strength(pcm: np.ndarray, hz: float) -> float:
    freqs, magnitude = spectrum(pcm, limits.SAMPLE_RATE)
    return float(magnitude[np.argmin(np.abs(freqs - hz))] / magnitude.max())


def run(encoders: MixMinusEncoders, decoders: Decoders, sound: dict[str, callable],
        ticks: int, start: int = 0) -> list[int]:
    """Mix and encode `ticks` ticks; the encodes each tick needed."""
    listeners = frozenset(sound)
    per_tick = []
    for tick in range(start, start + ticks):
        inputs = {key: make(tick) for key, make in sound.items()}
        program, minus = mix(inputs, limits.TICK_SAMPLES)
        before = encoders.encodes
        decoders.feed(encoders.encode(listeners, {k: level(v) for k, v in inputs.items()},
                                      program, minus))
        per_tick.append(encoders.encodes - before)
    return per_tick


def test_talkers_do_not_hear_themselves_and_the_silent_share_one_program_encode() -> None:
    encoders, decoders = MixMinusEncoders(), Decoders()
    sound = {"a": lambda t: tone(440, t), "b": lambda t: tone(1250, t)}
    sound |= {f"quiet{n}": lambda t: silence() for n in range(5)}
    per_tick = run(encoders, decoders, sound, TICKS)
    assert set(per_tick) == {3}, per_tick  # a's, b's and one program for the five
    a, b, quiet = (decoders.last_second(k) for k in ("a", "b", "quiet3"))
    assert abs(dominant_frequency(a) - 1250) < 15 and strength(a, 440) < 0.05
    assert abs(dominant_frequency(b) - 440) < 15 and strength(b, 1250) < 0.05
    assert strength(quiet, 440) > 0.5 and strength(quiet, 1250) > 0.5


def test_a_talker_who_stops_keeps_their_own_mix_through_the_hangover_then_shares() -> None:
    encoders, decoders = MixMinusEncoders(), Decoders()
    talking = {"a": lambda t: tone(440, t), "b": lambda t: tone(1250, t)}
    run(encoders, decoders, talking, TICKS)
    b_stops = {"a": lambda t: tone(440, t), "b": lambda t: silence()}
    per_tick = run(encoders, decoders, b_stops, TICKS, start=TICKS)
    hangover = limits.TALKING_HANGOVER_TICKS
    assert per_tick[:hangover] == [2] * hangover  # b still has a mix of their own
    assert set(per_tick[hangover:]) == {2}  # a's own, and the program for b
    # b, silent now, hears a; a hears nobody (b is silent): no 440 in what a gets.
    assert abs(dominant_frequency(decoders.last_second("b")) - 440) < 15
    assert level(decoders.last_second("a")[-limits.SAMPLE_RATE // 2:]) < 0.01  # codec delay: b's tail first


def test_every_packet_decodes_to_one_tick_and_a_leaver_is_forgotten() -> None:
    encoders, decoders = MixMinusEncoders(), Decoders()
    run(encoders, decoders, {"a": lambda t: tone(440, t), "b": lambda t: tone(1250, t)}, 10)
    assert all(sum(p.shape[0] for p in decoders.pcm[k]) == 10 * limits.TICK_SAMPLES
               for k in ("a", "b"))
    run(encoders, decoders, {"a": lambda t: tone(440, t)}, 1, start=10)
    assert set(encoders._own) == {"a"}
