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


def test_a_run_continuing_another_keeps_its_window_and_marks_one_discontinuity() -> None:
    """After a failover the new node's playlist still lists the old run's segments,
    then EXT-X-DISCONTINUITY; as the old ones leave the window the discontinuity moves
    into EXT-X-DISCONTINUITY-SEQUENCE (RFC 8216 6.2.2), so no segment's discontinuity
    number ever changes."""
    from datetime import UTC, datetime

    import m3u8

    from townhall.tools.clients.hls import discontinuity_numbers
    from townhall.media.llhls import LivePlaylist, Segment

    start = datetime(2026, 11, 24, tzinfo=UTC)
    carried = [Segment(msn, start, complete=True, carried_duration=2.048) for msn in (10, 11)]
    carried.append(Segment(12, start, complete=True, carried_duration=0.768))  # closed early
    playlist = LivePlaylist()
    playlist.continue_after(carried, discontinuity_sequence=4)
    playlist.add_part(0.256, start)
    text = playlist.render()
    parsed = m3u8.loads(text)
    assert parsed.media_sequence == 10 and parsed.discontinuity_sequence == 4
    assert [s.uri for s in parsed.segments[:3]] == ["seg10.m4s", "seg11.m4s", "seg12.m4s"]
    assert parsed.segments[2].duration == 0.768
    assert discontinuity_numbers(text) == {"seg10.m4s": 4, "seg11.m4s": 4, "seg12.m4s": 4,
                                           "seg13.0.m4s": 5}
    numbers: dict[str, int] = {}
    for _ in range(8 * 10):
        playlist.add_part(0.256, start)
        text = playlist.render()
        for uri, number in discontinuity_numbers(text).items():
            assert numbers.setdefault(uri, number) == number, uri
    parsed = m3u8.loads(text)
    assert parsed.discontinuity_sequence == 5
    assert "#EXT-X-DISCONTINUITY\n" not in text
    assert numbers["seg12.m4s"] == 4 and numbers["seg13.m4s"] == 5
