"""The rules of replays, clips, trims and retention (townhall/domain/recordings.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from townhall.domain.errors import BadRequest, Conflict, Forbidden
from townhall.domain.recordings import (Trim, check_may_delete_clip, check_trim, clip_range,
                                        recording_actions, retention_step)
from townhall.domain.room import Room, SpaceState

HOST, MAKER, OTHER = 1, 2, 3
ENDED = Room(host_id=HOST, state=SpaceState.ENDED)
LIVE = Room(host_id=HOST, state=SpaceState.LIVE)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_retention_tells_first_and_deletes_no_sooner_than_the_notice_allows() -> None:
    step = lambda now, notified=None: retention_step(T0, 30, 7, notified, T0 + now)  # noqa: E731
    assert step(timedelta(days=22)) is None
    assert step(timedelta(days=23)) == "notify"
    assert step(timedelta(days=29), notified=T0 + timedelta(days=23)) is None
    assert step(timedelta(days=30), notified=T0 + timedelta(days=23)) == "delete"
    # Told late (the server was down): still the full notice period.
    late = T0 + timedelta(days=40)
    assert step(timedelta(days=40)) == "notify"
    assert step(timedelta(days=46), notified=late) is None
    assert step(timedelta(days=47), notified=late) == "delete"
    assert retention_step(T0, 0, 7, None, T0 + timedelta(days=999)) is None  # kept for good


def test_clip_ranges() -> None:
    assert clip_range(ENDED, 100, Trim(), 10, 40, None) == (10, 40)
    assert clip_range(LIVE, 100, Trim(), None, None, 30) == (70, 100)
    assert clip_range(LIVE, 12, Trim(), None, None, 30) == (0, 12)
    for args, field in (((10, 71, None), "end"), ((10, 10.5, None), "end"),
                        ((5, 20, None), "start"), ((90, 101, None), "end"),
                        ((None, None, 30), "last")):
        with pytest.raises(BadRequest) as refused:
            clip_range(ENDED, 100, Trim(8, 95), *args)
        assert refused.value.field == field, args
    with pytest.raises(Conflict):
        clip_range(LIVE, 0, Trim(), None, None, 30)


def test_trims_and_who_may_do_what() -> None:
    assert check_trim(100, 5, 100) == Trim(5, None)
    with pytest.raises(BadRequest):
        check_trim(100, 100, None)
    assert recording_actions(ENDED, HOST, True) == ["clip", "delete_recording", "download", "trim"]
    assert recording_actions(ENDED, OTHER, True) == ["clip", "download"]
    assert recording_actions(ENDED, None, True) == ["download"]
    assert recording_actions(LIVE, OTHER, True) == ["clip"]
    assert recording_actions(ENDED, HOST, False) == []
    assert recording_actions(Room(host_id=HOST, state=SpaceState.ENDED, private=True),
                             OTHER, True) == []
    check_may_delete_clip(ENDED, MAKER, MAKER)
    check_may_delete_clip(ENDED, HOST, MAKER)
    with pytest.raises(Forbidden):
        check_may_delete_clip(ENDED, OTHER, MAKER)
