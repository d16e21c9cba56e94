import numpy as np

from townhall.media.mixer import mix
from townhall.media.sources import SpeakerInput, SyntheticVoice
from townhall import limits


def test_program_is_the_sum_and_mix_minus_leaves_each_speaker_out() -> None:
    a = np.full(4, 1000, np.int16)
    b = np.full(4, 200, np.int16)
    program, minus = mix({"a": a, "b": b}, 4)
    assert program.tolist() == [1200] * 4
    assert minus["a"].tolist() == [200] * 4
    assert minus["b"].tolist() == [1000] * 4


def test_loud_speakers_saturate_instead_of_wrapping() -> None:
    loud = np.full(3, 30000, np.int16)
    program, minus = mix({"a": loud, "b": loud}, 3)
    assert program.tolist() == [32767] * 3
    assert minus["a"].tolist() == [30000] * 3


def test_no_speakers_is_silence() -> None:
    program, minus = mix({}, limits.TICK_SAMPLES)
    assert program.shape == (limits.TICK_SAMPLES,) and not program.any() and minus == {}


def test_jitter_buffer_hands_out_whole_ticks_and_drops_the_oldest() -> None:
    speaker = SpeakerInput(max_ticks=2)
    speaker.push(np.arange(500, dtype=np.int16))
    assert speaker.pull() is None  # less than one tick: a gap, not a partial tick
    speaker.push(np.arange(500, 3 * limits.TICK_SAMPLES, dtype=np.int16))
    assert speaker.dropped_ticks == 1
    first = speaker.pull()
    assert first is not None and first[0] == limits.TICK_SAMPLES  # tick 0 was dropped
    speaker.muted = True
    assert speaker.pull() is None


def test_synthetic_voice_is_continuous_and_not_silent() -> None:
    voice = SyntheticVoice()
    ticks = [voice.pull() for _ in range(100)]
    assert all(t is not None and t.shape == (limits.TICK_SAMPLES,) for t in ticks)
    assert np.abs(np.concatenate(ticks)).max() > 5000


def test_after_a_gap_the_buffer_refills_to_its_target_before_playing() -> None:
    speaker = SpeakerInput(max_ticks=5, target_ticks=2)
    tick = np.ones(limits.TICK_SAMPLES, np.int16)
    speaker.push(tick)
    assert speaker.pull() is None  # one tick is below the target: still priming
    speaker.push(tick)
    assert speaker.pull() is not None and speaker.pull() is not None
    assert speaker.pull() is None and speaker.gaps == 1
    speaker.push(tick)
    assert speaker.pull() is None  # primes again after the gap


def test_a_buffer_left_above_target_is_trimmed() -> None:
    speaker = SpeakerInput(max_ticks=5, target_ticks=2)
    tick = np.ones(limits.TICK_SAMPLES, np.int16)
    for _ in range(4):
        speaker.push(tick)
    for _ in range(limits.JITTER_SETTLE_TICKS):
        speaker.push(tick)  # steady flow, one in one out, 4 waiting
        speaker.pull()
    assert speaker.dropped_ticks == 1 and speaker.level == 3  # 4 waiting, one trimmed


def test_levels_are_each_inputs_rms_of_full_scale() -> None:
    from townhall.media.mixer import levels

    half = np.full(960, 16384, np.int16)
    square = np.where(np.arange(960) % 2, 8192, -8192).astype(np.int16)
    got = levels({"half": half, "square": square, "silent": np.zeros(960, np.int16)})
    assert got == {"half": 0.5, "square": 0.25, "silent": 0.0}
    assert levels({}) == {}
