"""What a viewer is offered is exactly what the Room would let them do."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from townhall.domain import Room, SpaceState
from townhall.domain.affordances import (
    _PERSON_ACTIONS,
    _SPACE_ACTIONS,
    person_actions,
    room_from_json,
    room_json,
    space_actions,
)
from townhall.domain.errors import ClientError

HOST, COHOST, SPEAKER, HAND, GUEST, FAN, BANNED = 1, 2, 3, 4, 5, 6, 7
PEOPLE = (None, HOST, COHOST, SPEAKER, HAND, GUEST, FAN, BANNED)


def a_room(state: SpaceState = SpaceState.LIVE, private: bool = False) -> Room:
    return Room(host_id=HOST, state=state, cohosts=frozenset({COHOST}),
                speakers=frozenset({SPEAKER}), hands=(HAND,), guests=frozenset({GUEST}),
                removed=frozenset({BANNED}), private=private)


def succeeds(room: Room, command) -> bool:  # type: ignore[no-untyped-def]
    try:
        after, events = command(room)
    except ClientError:
        return False
    return bool(events) or after != room


@given(state=st.sampled_from(list(SpaceState)), private=st.booleans(),
       viewer=st.sampled_from(PEOPLE), target=st.sampled_from(PEOPLE[1:]))
@settings(max_examples=300, deadline=None)
def test_offered_person_actions_are_the_ones_that_succeed(state, private, viewer, target) -> None:  # type: ignore[no-untyped-def]
    room = a_room(state, private)
    offered = set(person_actions(room, viewer, target))
    for name, command in _PERSON_ACTIONS.items():
        if name in offered:
            assert succeeds(room, command(viewer, target)), (name, viewer, target)
        elif state not in (SpaceState.ENDED, SpaceState.CANCELLED) and viewer != target:
            assert not succeeds(room, command(viewer, target)), (name, viewer, target)


@given(state=st.sampled_from(list(SpaceState)), private=st.booleans(),
       viewer=st.sampled_from(PEOPLE))
@settings(max_examples=200, deadline=None)
def test_offered_space_actions_succeed(state, private, viewer) -> None:  # type: ignore[no-untyped-def]
    room = a_room(state, private)
    offered = set(space_actions(room, viewer))
    for name, command in _SPACE_ACTIONS.items():
        if name in offered and name != "invite":
            assert succeeds(room, command(viewer)), (name, viewer)
    assert ("view" in offered) == room.may("view", viewer)


@pytest.mark.parametrize("viewer,expected", [
    (COHOST, {"mute", "remove"}),  # a co-host may not block, nor touch co-hosting
    (HOST, {"mute", "remove", "block", "add_cohost"}),
    (FAN, set()),
])
def test_who_may_do_what_to_a_speaker(viewer: int, expected: set[str]) -> None:
    assert set(person_actions(a_room(), viewer, SPEAKER)) == expected


def test_nobody_is_offered_anything_against_the_host() -> None:
    assert person_actions(a_room(), COHOST, HOST) == []


def test_a_room_survives_json() -> None:
    room = a_room(private=True)
    assert room_from_json(room_json(room)) == room
