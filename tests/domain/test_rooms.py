import pytest

from townhall import limits
from townhall.domain.errors import Unauthorized
from townhall.domain import IllegalTransition, NotAllowed, Role, Room, SpaceState
from townhall.domain.events import HandLowered, HandRaised, MuteChanged, Removed, RoleChanged

HOST, ALICE, BOB = 1, 2, 3


def live() -> Room:
    return Room(host_id=HOST).go_live(HOST)[0]


def test_lifecycle_scheduled_live_ended() -> None:
    room = Room(host_id=HOST)
    started, _ = room.go_live(HOST)
    assert started.state == SpaceState.LIVE and room.state == SpaceState.SCHEDULED  # immutable
    ended, events = started.end(HOST)
    assert ended.state == SpaceState.ENDED and [e.state for e in events] == ["ended"]
    with pytest.raises(IllegalTransition):
        ended.go_live(HOST)
    with pytest.raises(IllegalTransition):
        started.go_live(HOST)
    cancelled, _ = room.cancel(HOST)
    with pytest.raises(IllegalTransition):
        cancelled.go_live(HOST)


def test_only_the_host_starts_and_ends() -> None:
    room = Room(host_id=HOST)
    with pytest.raises(NotAllowed):
        room.go_live(ALICE)
    with pytest.raises(Unauthorized):
        room.go_live(HOST)[0].end(None)


def test_hand_raise_approve_speak_step_down() -> None:
    room, events = live().raise_hand(ALICE)
    assert events == (HandRaised(ALICE),)
    with pytest.raises(IllegalTransition):
        room.raise_hand(ALICE)  # duplicate
    with pytest.raises(NotAllowed):
        room.approve_hand(BOB, ALICE)  # a listener cannot approve
    room, events = room.approve_hand(HOST, ALICE)
    assert events == (HandLowered(ALICE, approved=True), RoleChanged(ALICE, Role.SPEAKER))
    room.check_can_publish(ALICE)
    with pytest.raises(NotAllowed):
        room.check_can_publish(BOB)
    room, events = room.step_down(ALICE)
    assert room.role_of(ALICE) == Role.LISTENER and events == (RoleChanged(ALICE, Role.LISTENER),)


def test_cohosts_moderate_but_only_the_host_manages_them() -> None:
    room, _ = live().add_cohost(HOST, ALICE)
    assert room.role_of(ALICE) == Role.COHOST
    room, _ = room.invite(ALICE, BOB)
    room, _ = room.accept_invitation(BOB)
    assert room.role_of(BOB) == Role.SPEAKER
    room, events = room.mute(ALICE, BOB)
    assert events == (MuteChanged(BOB, True, ALICE),)
    with pytest.raises(NotAllowed):
        room.unmute(ALICE, BOB)  # nobody turns on someone else's microphone
    room, _ = room.unmute(BOB, BOB)
    with pytest.raises(NotAllowed):
        room.add_cohost(ALICE, BOB)
    with pytest.raises(NotAllowed):
        room.mute(ALICE, HOST)
    room, _ = room.add_cohost(HOST, BOB)
    with pytest.raises(IllegalTransition):
        room.add_cohost(HOST, 4)  # two co-hosts at most


def test_removed_and_blocked_cannot_come_back() -> None:
    room, _ = live().raise_hand(ALICE)
    room, events = room.remove(HOST, ALICE)
    assert events == (Removed(ALICE),) and ALICE not in room.hands
    with pytest.raises(NotAllowed):
        room.raise_hand(ALICE)
    with pytest.raises(NotAllowed):
        room.accept_invite_code(ALICE)
    room, events = room.block(HOST, BOB)
    assert events == (Removed(BOB, blocked=True),)
    with pytest.raises(NotAllowed):
        room.check_can_join(BOB)


def test_mute_all_spares_the_host_and_the_actor() -> None:
    room = live()
    for user in (ALICE, BOB, 4):
        room, _ = room.accept_invite_code(user)
    room, _ = room.add_cohost(HOST, ALICE)
    room, events = room.mute_all(ALICE)
    assert {e.user_id for e in events} == {BOB, 4}


def test_speaker_cap_counts_the_host() -> None:
    room = live()
    for user in range(2, limits.MAX_SPEAKERS + 1):
        room, _ = room.accept_invite_code(user)
    assert len(room.on_speaker_list) == limits.MAX_SPEAKERS
    with pytest.raises(IllegalTransition):
        room.accept_invite_code(999)
    assert room.accept_invite_code(2) == (room, ())  # already a speaker: no change
