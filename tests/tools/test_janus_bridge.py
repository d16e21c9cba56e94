"""benchmarks/janus_bridge.py's pieces that need neither Janus nor a network namespace:
which configurations are measured, Janus's configuration and the mix-minus check."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.janus_bridge import (
    JANUS_LIB,
    Voice,
    mixminus_problems,
    talking_modes,
    tone_frequency,
    write_config,
)
from townhall.tools.clients.whip import sine


class FakeParticipant:
    """What mixminus_problems reads of a Participant: it heard `heard` Hz (0: silence)."""

    def __init__(self, index: int, talking: bool, heard: float, room: int = 1) -> None:
        self.room, self.index = room, index
        self.voice = Voice(tone_frequency(index))
        self.voice.talking = talking
        self.name = f"p{index}"
        self._heard = heard

    def last_pcm(self, seconds: float) -> np.ndarray:
        count = int(seconds * 48000)
        if not self._heard:
            return np.zeros(count, np.int16)
        return sine(self._heard, 0.05)(0, count)


def test_talking_modes() -> None:
    assert talking_modes(1, 2, True) == [1]
    assert talking_modes(4, 2, True) == [2, 4]
    assert talking_modes(4, 2, False) == [2]
    assert talking_modes(13, None, True) == [13]


def test_a_silent_voice_sends_zeros_and_a_talking_one_its_tone() -> None:
    voice = Voice(300.0)
    assert not voice(0, 960).any()
    voice.talking = True
    assert np.array_equal(voice(960, 960), sine(300.0, 0.05)(960, 960))


def test_mix_minus_check() -> None:
    f0, f1 = tone_frequency(0), tone_frequency(1)
    good = [FakeParticipant(0, True, f1), FakeParticipant(1, True, f0),
            FakeParticipant(2, False, f0)]
    assert mixminus_problems(good) == []
    own = [FakeParticipant(0, True, f0), FakeParticipant(1, True, f0)]
    assert len(mixminus_problems(own)) == 1
    silent = [FakeParticipant(0, True, f1), FakeParticipant(1, True, f0),
              FakeParticipant(2, False, 0.0)]
    assert len(mixminus_problems(silent)) == 1
    # A lone talker hears silence, and so does everyone when nobody talks: not checked.
    assert mixminus_problems([FakeParticipant(0, True, 0.0), FakeParticipant(1, False, f0)]) == []
    assert mixminus_problems([FakeParticipant(0, False, 0.0)]) == []


def test_config_loads_only_the_audiobridge_and_http(tmp_path: Path) -> None:
    write_config(tmp_path)
    text = (tmp_path / "janus.jcfg").read_text()
    disabled = {line.split('"')[1] for line in text.splitlines() if "disable =" in line}
    names = set().union(*(d.split(",") for d in disabled))
    assert "libjanus_audiobridge.so" not in names and "libjanus_http.so" not in names
    if (JANUS_LIB / "plugins").is_dir():
        assert "libjanus_echotest.so" in names and "libjanus_websockets.so" in names
    assert "port = 8088" in (tmp_path / "janus.transport.http.jcfg").read_text()
