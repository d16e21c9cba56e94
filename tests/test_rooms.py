import pytest

from townhall import limits
from townhall.rooms import IllegalTransition, NotAllowed, Role, Room, SpaceState

HOST = 1


def test_lifecycle_scheduled_live_ended() -> None:
    room = Room(host_id=HOST)
    live = room.go_live(HOST)
    assert live.state == SpaceState.LIVE and room.state == SpaceState.SCHEDULED  # immutable
    ended = live.end(HOST)
    assert ended.state == SpaceState.ENDED
    with pytest.raises(IllegalTransition):
        ended.go_live(HOST)
    with pytest.raises(IllegalTransition):
        live.go_live(HOST)


def test_only_the_host_starts_and_ends() -> None:
    room = Room(host_id=HOST)
    with pytest.raises(NotAllowed):
        room.go_live(2)
    with pytest.raises(NotAllowed):
        room.go_live(HOST).end(None)


def test_speakers_and_publishing() -> None:
    room = Room(host_id=HOST).go_live(HOST).add_speaker(2)
    assert room.role_of(2) == Role.SPEAKER and room.role_of(3) == Role.LISTENER
    room.check_can_publish(HOST)
    room.check_can_publish(2)
    with pytest.raises(NotAllowed):
        room.check_can_publish(3)
    with pytest.raises(IllegalTransition):
        room.end(HOST).check_can_publish(2)


def test_speaker_cap_counts_the_host() -> None:
    room = Room(host_id=HOST)
    for user in range(2, limits.MAX_SPEAKERS + 1):
        room = room.add_speaker(user)
    assert len(room.speakers) + 1 == limits.MAX_SPEAKERS
    with pytest.raises(IllegalTransition):
        room.add_speaker(999)
    assert room.add_speaker(2) is room  # already a speaker: no change
