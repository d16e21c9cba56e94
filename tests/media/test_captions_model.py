"""Captions, the pure parts: the WebVTT rendition and its playlists (parsed with the m3u8
package), utterances cut from synthetic level sequences, transcripts on the replay's
timeline and in each download format, and the model's pinned hashes."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import m3u8
import numpy as np
import pytest

from townhall.media.captions import engine
from townhall.media.captions.transcript import (SpokenLine, Transcript, TranscriptSegment,
                                                live_transcript, load_transcript, log_caption,
                                                replay_time, write_transcript)
from townhall.media.captions.utterances import RATE, Final, Partial, UtteranceSegmenter, to_16k
from townhall.media.captions.vtt import (Cue, SubtitleTrack, parse_subs_name, render_master,
                                         timestamp)
from townhall.media.recorder import Recorder

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SEG = 2.048  # an audio segment: 8 parts of 12 AAC frames


def _track(lag: int = 3) -> SubtitleTrack:
    return SubtitleTrack(target_duration=2, window_segments=6, lag_segments=lag)


def _cue_times(vtt: str) -> list[tuple[str, str, str]]:
    return re.findall(r"(\S+) --> (\S+)\n<v ([^>]+)>", vtt)


def test_subtitle_segments_follow_the_audio_and_wait_for_captions() -> None:
    track = _track()
    out = []
    for msn in range(5):
        if msn == 2:
            track.add_cue(Cue(2.5, 4.0, "Ada", "hello there"))  # spoken in segment 1
        out += track.add_segment(msn, msn * SEG, SEG, T0 + timedelta(seconds=msn * SEG))
    # Three segments behind the audio: 0 and 1 are out after segments 3 and 4.
    assert [s.msn for s in out] == [0, 1]
    assert out[0].cues == [] and [c.text for c in out[1].cues] == ["hello there"]
    vtt = out[1].render()
    assert vtt.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n")
    assert _cue_times(vtt) == [("00:00:02.500", "00:00:04.000", "Ada")]
    # The cue lies within its segment's span of the audio timeline (same as the fMP4's).
    assert out[1].start <= 2.5 < out[1].start + out[1].duration

    playlist = m3u8.loads(track.render_playlist())
    assert playlist.media_sequence == 0 and playlist.target_duration == 2
    assert [s.uri for s in playlist.segments] == ["subs0.vtt", "subs1.vtt"]
    assert playlist.segments[1].program_date_time == T0 + timedelta(seconds=SEG)
    assert not playlist.is_endlist


def test_a_late_cue_goes_into_the_next_segment_and_the_end_places_every_cue() -> None:
    track = _track(lag=1)
    track.add_segment(0, 0.0, SEG, T0)
    assert track.add_segment(1, SEG, SEG, T0)[0].cues == []  # segment 0 out, empty
    track.add_cue(Cue(0.5, 1.5, "Ada", "late"))  # for segment 0, already out
    (one,) = track.add_segment(2, 2 * SEG, SEG, T0)
    assert [c.text for c in one.cues] == ["late"] and one.msn == 1
    track.add_cue(Cue(30.0, 31.0, "Bo", "after the last segment"))
    last = track.end()
    assert [s.msn for s in last] == [2]
    assert [c.text for c in last[0].cues] == ["after the last segment"]
    assert m3u8.loads(track.render_playlist()).is_endlist


def test_window_slides_and_cue_text_is_escaped() -> None:
    track = _track(lag=0)
    for msn in range(10):
        track.add_segment(msn, msn * SEG, SEG, T0)
    playlist = m3u8.loads(track.render_playlist())
    assert playlist.media_sequence == 4 and len(playlist.segments) == 6
    cue = Cue(1.0, 1.2, "A<b>", "x --> y & <i>z</i>\nnext")
    rendered = cue.render()
    assert "-->" not in rendered.split("\n", 1)[1].replace("--&gt;", "")
    assert "<i>" not in rendered and "&amp;" in rendered
    assert rendered.startswith("00:00:01.000 --> 00:00:01.500")  # at least half a second
    assert timestamp(3725.5) == "01:02:05.500"
    assert parse_subs_name("subs12.vtt") == 12
    assert parse_subs_name("subs012.vtt") is None and parse_subs_name("../x.vtt") is None


def test_master_playlist_names_audio_and_subtitles() -> None:
    master = m3u8.loads(render_master())
    (subs,) = master.media
    assert (subs.type, subs.group_id, subs.language, subs.name, subs.default,
            subs.autoselect, subs.uri) == ("SUBTITLES", "subs", "en", "English", "YES", "YES",
                                           "subs.m3u8")
    (audio,) = master.playlists
    assert audio.uri == "live.m3u8" and audio.stream_info.subtitles == "subs"
    assert audio.stream_info.codecs == "mp4a.40.2"


# -- utterances ----------------------------------------------------------------------------
TICK = 0.02


def _run(levels: list[float], segmenter: UtteranceSegmenter | None = None) -> list[Partial]:
    segmenter = segmenter or UtteranceSegmenter()
    actions: list[Partial] = []
    for i, level in enumerate(levels):
        actions += segmenter.push(i * TICK, level, np.full(int(TICK * RATE), level, np.float32))
    return actions


def _seconds(level: float, seconds: float) -> list[float]:
    return [level] * round(seconds / TICK)


def test_silence_ends_an_utterance_with_a_little_before_and_after() -> None:
    levels = _seconds(0, 1) + _seconds(0.1, 1.5) + _seconds(0, 1)
    *partials, final = _run(levels)
    assert isinstance(final, Final) and not any(isinstance(p, Final) for p in partials)
    assert final.start == pytest.approx(1.0 - 0.3, abs=0.03)  # preroll
    assert final.end == pytest.approx(2.5 + 0.3, abs=0.03)
    assert len(final.audio) == pytest.approx((final.end - final.start) * RATE, abs=2)


def test_gaps_between_words_do_not_split_and_partials_come_every_two_seconds() -> None:
    talk = []
    for _ in range(10):  # 5 s of words with 0.3 s gaps
        talk += _seconds(0.1, 0.2) + _seconds(0.002, 0.3)
    actions = _run(talk + _seconds(0, 1.5))
    partials = [a for a in actions if not isinstance(a, Final)]
    finals = [a for a in actions if isinstance(a, Final)]
    assert len(finals) == 1 and len(partials) == 2
    assert [round(p.end - p.start, 1) for p in partials] == [2.0, 4.0]
    assert all(p.utterance == finals[0].utterance for p in partials)


def test_clicks_are_not_utterances_and_long_talk_is_cut() -> None:
    assert _run(_seconds(0.2, 0.1) + _seconds(0, 2)) == []
    segmenter = UtteranceSegmenter(max_utterance=5.0, partial_every=100)
    finals = _run(_seconds(0.1, 12) + _seconds(0, 1), segmenter)
    assert [round(f.end - f.start) for f in finals] == [5, 5, 2]
    assert len({f.utterance for f in finals}) == 3


def test_leaving_flushes_and_downsampling_keeps_the_level() -> None:
    segmenter = UtteranceSegmenter()
    _run(_seconds(0.1, 1), segmenter)
    (final,) = segmenter.flush()
    assert final.end == pytest.approx(1.0, abs=0.03)
    tone = (np.sin(2 * np.pi * 440 * np.arange(960) / 48000) * 8000).astype(np.int16)
    down = to_16k(tone)
    assert down.dtype == np.float32 and len(down) == 320
    assert np.sqrt(np.mean(down**2)) == pytest.approx(8000 / 32768 / np.sqrt(2), rel=0.05)


# -- transcripts ---------------------------------------------------------------------------
def test_replay_time_counts_recorded_segments_end_to_end() -> None:
    segments = [(0, 2.0, T0, False), (1, 2.0, T0 + timedelta(seconds=2), False),
                # a restart: 60 s later the next run's segments go on
                (5, 2.0, T0 + timedelta(seconds=64), True)]
    assert replay_time(segments, T0 - timedelta(seconds=1)) is None  # before the recording
    assert replay_time(segments, T0 + timedelta(seconds=3)) == pytest.approx(3.0)
    assert replay_time(segments, T0 + timedelta(seconds=30)) == pytest.approx(4.0)
    assert replay_time(segments, T0 + timedelta(seconds=65)) == pytest.approx(5.0)
    assert replay_time(segments, T0 + timedelta(seconds=99)) is None


def test_live_transcript_from_the_caption_log(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path)
    for msn in range(5):
        recorder.write_segment(msn, b"x", 2.0, T0 + timedelta(seconds=2 * msn))
    said = [(-5, "in the waiting room"), (1.5, "hello everyone"), (4.25, "and welcome")]
    for n, (at, text) in enumerate(said):
        line = SpokenLine(n, T0 + timedelta(seconds=at), T0 + timedelta(seconds=at + 1.5),
                          7, "Ada", text)
        assert log_caption(tmp_path, line, np.zeros(1600, np.float32) + 0.1)
    with open(tmp_path / "captions.jsonl", "a") as torn:
        torn.write('{"n": 3, "sta')  # a crash mid-line
    transcript = live_transcript(tmp_path, "live")
    assert not transcript.final
    assert [(s.start, s.end, s.text) for s in transcript.segments] == [
        (1.5, 3.0, "hello everyone"), (4.25, 5.75, "and welcome")]
    better = live_transcript(tmp_path, "final", lambda line: line.text.upper())
    assert better.final and better.segments[0].text == "HELLO EVERYONE"
    assert (tmp_path / "captions" / "u1.pcm").stat().st_size == 3200


def test_transcript_file_and_formats(tmp_path: Path) -> None:
    transcript = Transcript(True, "tiny.en", (
        TranscriptSegment(1.5, 3.0, 7, "Ada", "hello everyone"),
        TranscriptSegment(3661.25, 3663.0, None, "Bo", "a --> b")))
    write_transcript(tmp_path, transcript)
    data = json.loads((tmp_path / "transcript.json").read_text())
    assert data == {"final": True, "model": "tiny.en", "segments": [
        {"start": 1.5, "end": 3.0, "speaker_id": 7, "speaker": "Ada", "text": "hello everyone"},
        {"start": 3661.25, "end": 3663.0, "speaker_id": None, "speaker": "Bo", "text": "a --> b"}]}
    assert load_transcript(tmp_path) == transcript
    assert load_transcript(tmp_path / "transcript.json") == transcript
    assert load_transcript(tmp_path / "nothing") is None
    assert not list(tmp_path.glob(".*.tmp"))
    vtt = transcript.to_vtt()
    assert vtt.startswith("WEBVTT\n") and "00:00:01.500 --> 00:00:03.000\n<v Ada>hello" in vtt
    assert vtt.count("-->") == 2
    srt = transcript.to_srt()
    assert "1\n00:00:01,500 --> 00:00:03,000\nAda: hello everyone\n" in srt
    assert "2\n01:01:01,250 --> 01:01:03,000\nBo: a -> b" in srt
    assert transcript.to_txt() == "[00:00:01] Ada: hello everyone\n[01:01:01] Bo: a -> b\n"


def test_the_packaged_model_is_checked_against_its_pins(tmp_path: Path) -> None:
    source = engine.packaged_model()
    assert set(source.sha256) == {p.name for p in source.directory.iterdir() if p.is_file()}
    engine.verify(source)
    for name in source.sha256:
        (tmp_path / name).write_bytes((source.directory / name).read_bytes())
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(engine.ModelUnavailable, match="config.json"):
        engine.verify(engine.ModelSource(tmp_path, "tampered", source.sha256))
    assert engine.model_source(tmp_path).sha256 == {}  # an operator's own: not checked
    with pytest.raises(engine.ModelUnavailable):
        engine.model_source(tmp_path / "missing")
