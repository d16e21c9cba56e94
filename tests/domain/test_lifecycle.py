"""The system's own lifecycle commands (townhall/domain/room.py): a live Space whose
host left is warned, called off when someone in charge returns, ends itself only at
the announced time with its replay cut at the warning; a Space that never started
expires. Decisions only: the app's timers decide when to ask (tests/app/test_lifecycle.py)."""

from datetime import UTC, datetime, timedelta

import pytest

from townhall.domain import EndReason, IllegalTransition, Room, SpaceState
from townhall.domain.affordances import room_json, room_from_json
from townhall.domain.events import EndingCancelled, EndingScheduled, RecordingCut, StateChanged

HOST, COHOST = 1, 2
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=3)


def live() -> Room:
    return Room(host_id=HOST).go_live(HOST)[0]


def warned() -> Room:
    return live().warn_host_absent(NOW, LATER)[0]


def test_who_counts_as_hosting() -> None:
    room = live().add_cohost(HOST, COHOST)[0]
    assert room.hosted({HOST}) and room.hosted({COHOST, 99})
    assert not room.hosted(set()) and not room.hosted({99})


def test_the_warning_says_when_and_is_given_once() -> None:
    room, events = live().warn_host_absent(NOW, LATER)
    assert (room.ending, room.warned_at, room.ends_at) == (EndReason.HOST_ABSENT, NOW, LATER)
    assert events == (EndingScheduled("host_absent", NOW.isoformat(), LATER.isoformat()),)
    again, events = room.warn_host_absent(NOW + timedelta(seconds=5), LATER + timedelta(seconds=5))
    assert again == room and events == ()


def test_only_a_live_space_is_warned() -> None:
    with pytest.raises(IllegalTransition):
        Room(host_id=HOST).warn_host_absent(NOW, LATER)
    with pytest.raises(IllegalTransition):
        live().end(HOST)[0].warn_host_absent(NOW, LATER)


def test_the_host_coming_back_calls_it_off() -> None:
    room, events = warned().host_returned()
    assert (room.ending, room.warned_at, room.ends_at) == (None, None, None)
    assert events == (EndingCancelled("host_absent"),)
    assert live().host_returned() == (live(), ())  # nothing pending: nothing to say


def test_it_ends_itself_at_the_announced_time_and_cuts_the_replay_at_the_warning() -> None:
    with pytest.raises(IllegalTransition):
        warned().end_abandoned(LATER - timedelta(seconds=1))
    with pytest.raises(IllegalTransition):
        live().end_abandoned(LATER)  # never warned
    room, events = warned().end_abandoned(LATER)
    assert room.state == SpaceState.ENDED and room.end_reason == EndReason.HOST_ABSENT
    assert room.warned_at == NOW and room.ending is None and room.ends_at is None
    assert events == (RecordingCut(NOW.isoformat()), StateChanged("ended"))


def test_the_host_ending_it_keeps_the_whole_recording() -> None:
    room, events = warned().end(HOST)
    assert room.state == SpaceState.ENDED and room.end_reason is None
    assert (room.ending, room.warned_at, room.ends_at) == (None, None, None)
    assert not any(isinstance(e, RecordingCut) for e in events)


def test_a_space_that_never_started_expires() -> None:
    room, events = Room(host_id=HOST).expire()
    assert room.state == SpaceState.CANCELLED and room.end_reason == EndReason.NEVER_STARTED
    assert events == (StateChanged("cancelled"),)
    for started in (live(), live().end(HOST)[0]):
        with pytest.raises(IllegalTransition):
            started.expire()


def test_the_lifecycle_travels_with_the_room_between_nodes() -> None:
    for room in (warned(), warned().end_abandoned(LATER)[0], Room(host_id=HOST).expire()[0]):
        assert room_from_json(room_json(room)) == room
