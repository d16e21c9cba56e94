from datetime import UTC, datetime

import m3u8
import pytest

from townhall.media.llhls import LivePlaylist, Position, parse_media_name, render_vod

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_parts_group_into_segments_and_the_window_slides() -> None:
    playlist = LivePlaylist(part_target=0.25, parts_per_segment=4, window_segments=2)
    completed = [playlist.add_part(0.25, T0)[1] for _ in range(4 * 5 + 1)]
    assert [s.msn for s in completed if s] == [0, 1, 2, 3, 4]
    parsed = m3u8.loads(playlist.render())
    assert parsed.media_sequence == 3  # window of 2 complete segments + the current one
    assert [s.uri for s in parsed.segments] == ["seg3.m4s", "seg4.m4s", None]
    assert parsed.preload_hint.uri == "seg5.1.m4s"
    assert playlist.position == Position(5, 0)


def test_part_longer_than_target_is_refused() -> None:
    with pytest.raises(ValueError):
        LivePlaylist(part_target=0.25).add_part(0.3, T0)


def test_ending_completes_the_last_segment_and_drops_the_hint() -> None:
    playlist = LivePlaylist(part_target=0.25, parts_per_segment=4)
    for _ in range(6):
        playlist.add_part(0.25, T0)
    last = playlist.end()
    assert last is not None and last.msn == 1 and last.duration == 0.5
    text = playlist.render()
    assert text.rstrip().endswith("#EXT-X-ENDLIST") and "PRELOAD-HINT" not in text


def test_blocking_positions() -> None:
    at = Position(5, 2)
    assert at.has(5, 2) and at.has(4, 7) and at.has(4, None)
    assert not at.has(5, 3) and not at.has(5, None) and not at.has(6, 0)
    # A part index past a complete segment's end is satisfied by the next segment.
    assert Position(6, 0).has(5, 8)


def test_media_names() -> None:
    assert parse_media_name("seg12.m4s") == (12, None)
    assert parse_media_name("seg12.3.m4s") == (12, 3)
    for bad in ("seg.m4s", "seg1.m4s.bak", "../seg1.m4s", "seg99999999999.m4s", "init.mp4"):
        assert parse_media_name(bad) is None


def test_vod_marks_gaps_and_restarts_as_discontinuities() -> None:
    text = render_vod([(0, 2.0, T0, False), (1, 2.0, T0, False), (3, 2.0, T0, False),
                       (4, 2.0, T0, True)], 2)
    parsed = m3u8.loads(text)
    assert parsed.is_endlist and parsed.playlist_type == "vod"
    assert [s.discontinuity for s in parsed.segments] == [False, False, True, True]
