"""Stateful property test of the Room state machine: random commands from random people.

Hypothesis drives one Room (host = user 1, twenty signed-in users, and anonymous) through
random lifecycle, speaker-list, co-host, mute and moderation commands, and checks after
every step that the Room's invariants hold and that every refusal agrees with the
permission table. A command that raises must raise a ClientError (anything else fails the
test) and leaves the previous Room in use; Room is immutable, so it must also be unchanged.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from townhall import limits
from townhall.domain.errors import ClientError
from townhall.domain import FINAL, Room, SpaceState
from townhall.domain.permissions import ON_STAGE, PERMISSIONS, Actor, denial_reason

HOST = 1
USERS = tuple(range(1, 21))  # signed-in people; user 1 hosts
EVERYONE: tuple[int | None, ...] = (None, *USERS)  # None = anonymous

CONFLICT, FORBIDDEN, UNAUTHORIZED = 409, 403, 401
LIFECYCLE = ("go_live", "end", "cancel")
# (Room method, its entry in PERMISSIONS) for commands taking only the actor, and for those
# taking the actor and someone else.
SOLO_COMMANDS = (
    *((command, command) for command in LIFECYCLE),
    ("accept_invite_code", "accept_invite"),
    ("accept_invitation", "accept_invite"),
    ("raise_hand", "raise_hand"),
    ("lower_hand", "lower_hand"),
    ("step_down", "step_down"),
    ("mute_all", "mute_all"),
)
COMMANDS_ON_OTHERS = (
    ("invite", "invite"),
    ("approve_hand", "approve_hand"),
    ("decline_hand", "decline_hand"),
    ("add_cohost", "add_cohost"),
    ("remove_cohost", "remove_cohost"),
    ("mute", "mute_other"),
    ("unmute", "unmute_self"),  # someone else's microphone: refused whoever asks
    ("remove", "remove"),
    ("block", "block"),
)

# People are picked by what they are in the Room at that moment (so co-hosts, speakers and
# raised hands act and are acted on far more often than uniform sampling would manage),
# then by index into that group; an empty group falls back to everyone. Each rule favours
# the groups its command is meant for, so that commands succeed as well as fail.
Who = tuple[str, int]  # (group, index into it)
KINDS = ("host", "cohost", "speaker", "hand", "invited", "muted", "removed", "listener", "anyone")


def person(*favourites: str, anonymous: bool = False) -> st.SearchStrategy[Who]:
    """Someone from the favourite groups about two times in three, else from any group."""
    others = (*KINDS, "anonymous") if anonymous else KINDS
    kinds = favourites * (2 * -(-len(others) // max(len(favourites), 1))) + others
    return st.tuples(st.sampled_from(kinds), st.integers(0, len(USERS) - 1))


def acting(*favourites: str) -> st.SearchStrategy[Who]:
    """Someone to act: like person(), or anonymous (the "anonymous" group is None)."""
    return person(*favourites, anonymous=True)


moderator = acting("host", "cohost")


class RoomMachine(RuleBasedStateMachine):
    ROOM: type[Room] = Room  # replaced by a mutant when checking that this test can fail

    def __init__(self) -> None:
        super().__init__()
        self.room = self.ROOM(host_id=HOST)
        self.final_state: SpaceState | None = None

    # -- picking people --------------------------------------------------------
    def _group(self, kind: str) -> tuple[int, ...]:
        room = self.room
        if kind == "host":
            return (room.host_id,)
        if kind == "hand":
            return room.hands or USERS
        if kind == "listener":
            busy = room.on_speaker_list | room.removed
            return tuple(u for u in USERS if u not in busy) or USERS
        if kind == "anyone":
            return USERS
        group = {"cohost": "cohosts", "speaker": "speakers"}.get(kind, kind)
        return tuple(sorted(getattr(room, group))) or USERS

    def _who(self, who: Who | None) -> int | None:
        if who is None:
            return None
        kind, index = who
        if kind == "anonymous":
            return None
        group = self._group(kind)
        return group[index % len(group)]

    # -- running one command ---------------------------------------------------
    def _do(self, command: str, action: str | None, actor: int | None, *args: object) -> None:
        """Run room.<command>(actor, *args); check the refusal or keep the new Room.

        `action` is the command's entry in PERMISSIONS (None if it has none): when the table
        denies this actor, the command must be refused with 401 (anonymous) or 403.
        """
        before = self.room
        snapshot = _fields(before)
        call = _call(command, actor, *args)
        assert action is None or action in PERMISSIONS
        denied = action is not None and denial_reason(action, before.actor(actor)) is not None
        try:
            result = getattr(before, command)(actor, *args)
        except ClientError as exc:  # anything else is a bug and fails the test
            note(f"{call} -> {type(exc).__name__} {exc.status}: {exc.message}")
            assert _fields(self.room) == snapshot, f"{call} raised but changed the Room"
            if denied:
                expected = UNAUTHORIZED if actor is None else FORBIDDEN
                assert exc.status == expected, (
                    f"{call}: the table denies {before.actor(actor)!s} '{action}', so "
                    f"expected {expected}, got {exc.status} ({exc.message})"
                )
            if command in LIFECYCLE and before.state in FINAL and not denied:
                assert exc.status == CONFLICT, f"{call} on a {before.state} Space: {exc.status}"
            return
        assert not denied, f"{call} succeeded, but the table denies {before.actor(actor)!s}"
        room, events = result
        note(f"{call} -> {events}")
        assert type(room) is type(before) and isinstance(events, tuple)
        assert _fields(before) == snapshot, f"{call} mutated the old Room"
        if command in LIFECYCLE:
            assert before.state not in FINAL, f"{call} succeeded on a {before.state} Space"
            target = {"go_live": SpaceState.LIVE, "end": SpaceState.ENDED}
            assert room.state == target.get(command, SpaceState.CANCELLED)
            assert replace(room, state=before.state) == before, f"{call} changed more than state"
        else:
            assert room.state == before.state, f"{call} changed the state"
            self._check_effect(command, before, room, actor, *args)
        self.room = room

    @staticmethod
    def _check_effect(command: str, before: Room, room: Room, actor: object, *args: object) -> None:
        """What a successful command must have done (beyond what the table says)."""
        user = args[0] if args else actor
        stage = room.on_speaker_list
        if command == "accept_invite_code":
            assert user in stage
        elif command == "accept_invitation":
            if user in before.on_speaker_list:  # already speaking: nothing to accept
                assert room == before
            else:
                assert user in before.invited and user in room.speakers
        elif command == "invite":
            assert user in room.invited if user is not None else room == before
        elif command == "raise_hand":
            assert before.state == SpaceState.LIVE and room.hands == (*before.hands, user)
        elif command in ("lower_hand", "decline_hand"):
            assert user in before.hands and user not in room.hands
        elif command == "approve_hand":
            assert before.state not in FINAL, "a hand approved in a finished Space"
            assert user in before.hands and user in room.speakers and user not in room.hands
        elif command == "step_down":
            assert actor != room.host_id and actor not in stage
        elif command == "add_cohost":
            assert before.state not in FINAL and user in room.cohosts
        elif command == "remove_cohost":
            assert user in before.cohosts and user in room.speakers
        elif command == "mute":
            assert user in room.muted
            assert actor == user or user != room.host_id, "someone muted the host"
        elif command == "unmute":
            assert actor == user and user not in room.muted, "unmuted by someone else"
        elif command == "mute_all":
            assert stage - {actor, room.host_id} <= room.muted
            assert (room.host_id in room.muted) == (room.host_id in before.muted)
        elif command in ("remove", "block"):
            assert user != room.host_id and user in room.removed and user not in stage
            if command == "remove" and user in before.cohosts:
                assert actor == room.host_id, "a co-host removed by someone other than the host"
            if command == "block":
                assert user in room.blocked

    # -- setting the stage -----------------------------------------------------
    @initialize(live=st.booleans())
    def start(self, live: bool) -> None:
        if live:
            self._do("go_live", "go_live", HOST)

    # -- lifecycle -------------------------------------------------------------
    @rule(by=moderator)  # host-only commands favour co-hosts too: they must be refused
    def go_live(self, by: Who) -> None:
        self._do("go_live", "go_live", self._who(by))

    @rule(by=acting())  # the host rarely: most runs should stay live for a while
    def end(self, by: Who) -> None:
        self._do("end", "end", self._who(by))

    @rule(by=acting())
    def cancel(self, by: Who) -> None:
        self._do("cancel", "cancel", self._who(by))

    # -- the speaker list --------------------------------------------------------
    @rule(by=acting("listener"))
    def accept_invite_code(self, by: Who) -> None:
        self._do("accept_invite_code", "accept_invite", self._who(by))

    @precondition(lambda self: self.room.state not in FINAL)
    @rule(users=st.lists(st.sampled_from(USERS), min_size=1, max_size=len(USERS)))
    def crowd_follows_invite_link(self, users: list[int]) -> None:
        """Many people take the invite link at once: fills the stage up to its cap."""
        for user in users:
            self._do("accept_invite_code", "accept_invite", user)
            self.room_invariants()

    @rule(by=moderator, user=person("listener", "hand", "removed") | st.none())
    def invite(self, by: Who, user: Who | None) -> None:
        self._do("invite", "invite", self._who(by), self._who(user))

    @rule(by=acting("invited"))
    def accept_invitation(self, by: Who) -> None:
        self._do("accept_invitation", "accept_invite", self._who(by))

    @rule(by=acting("listener"))
    def raise_hand(self, by: Who) -> None:
        self._do("raise_hand", "raise_hand", self._who(by))

    @rule(by=acting("hand"))
    def lower_hand(self, by: Who) -> None:
        self._do("lower_hand", "lower_hand", self._who(by))

    @rule(by=moderator, user=person("hand"))
    def approve_hand(self, by: Who, user: Who) -> None:
        self._do("approve_hand", "approve_hand", self._who(by), self._who(user))

    @rule(by=moderator, user=person("hand"))
    def decline_hand(self, by: Who, user: Who) -> None:
        self._do("decline_hand", "decline_hand", self._who(by), self._who(user))

    @rule(by=acting("speaker", "cohost"))
    def step_down(self, by: Who) -> None:
        self._do("step_down", "step_down", self._who(by))

    # -- co-hosts ----------------------------------------------------------------
    @rule(by=acting("host", "host", "cohost"), user=person("speaker", "listener"))
    def add_cohost(self, by: Who, user: Who) -> None:
        self._do("add_cohost", "add_cohost", self._who(by), self._who(user))

    @rule(by=acting("host", "host", "cohost"), user=person("cohost"))
    def remove_cohost(self, by: Who, user: Who) -> None:
        self._do("remove_cohost", "remove_cohost", self._who(by), self._who(user))

    # -- mutes -------------------------------------------------------------------
    @rule(by=moderator, user=person("speaker", "cohost"))
    def mute(self, by: Who, user: Who) -> None:
        who, whom = self._who(by), self._who(user)
        self._do("mute", "mute_self" if who == whom else "mute_other", who, whom)

    @rule(by=acting("speaker", "cohost"))
    def mute_self(self, by: Who) -> None:
        who = self._who(by)
        self._do("mute", "mute_self", who, who)

    @rule(by=acting("muted"), user=person("muted"))
    def unmute(self, by: Who, user: Who) -> None:
        self._do("unmute", "unmute_self", self._who(by), self._who(user))

    @rule(by=acting("muted"))
    def unmute_self(self, by: Who) -> None:
        who = self._who(by)
        self._do("unmute", "unmute_self", who, who)

    @rule(by=moderator)
    def mute_all(self, by: Who) -> None:
        self._do("mute_all", "mute_all", self._who(by))

    # -- removal and blocks --------------------------------------------------------
    @rule(by=moderator, user=person("speaker", "cohost", "hand", "invited"))
    def remove(self, by: Who, user: Who) -> None:
        self._do("remove", "remove", self._who(by), self._who(user))

    @rule(by=acting("host", "host", "cohost"), user=person("speaker", "cohost", "hand", "removed"))
    def block(self, by: Who, user: Who) -> None:
        self._do("block", "block", self._who(by), self._who(user))

    # -- invariants ----------------------------------------------------------------
    @invariant()
    def room_invariants(self) -> None:
        room = self.room
        stage = room.on_speaker_list
        assert room.state in set(SpaceState), room.state

        # caps
        assert len(stage) <= limits.MAX_SPEAKERS, f"{len(stage)} on the speaker list"
        assert len(room.cohosts) <= limits.MAX_COHOSTS, f"{len(room.cohosts)} co-hosts"

        # exactly one host, who is nothing else
        assert room.host_id == HOST and room.role_of(HOST) == "host"
        assert [u for u in EVERYONE if room.role_of(u) == "host"] == [HOST]
        for group in ("cohosts", "speakers", "removed", "blocked", "invited"):
            assert HOST not in getattr(room, group), f"the host is in {group}"
        assert HOST not in room.hands, "the host has a raised hand"

        # the groups agree with each other
        assert not room.cohosts & room.speakers, "a co-host is also in speakers"
        assert len(set(room.hands)) == len(room.hands), f"duplicate hands {room.hands}"
        assert not set(room.hands) & stage, "a raised hand on the speaker list"
        assert not room.invited & stage, "an invitation for someone already speaking"
        assert room.muted <= stage, "muted but not on the speaker list"
        assert room.blocked <= room.removed, "blocked but not removed"
        assert None not in stage | room.invited | room.removed | set(room.hands)

        # removed and blocked people are out
        out = room.removed | room.blocked
        assert not out & stage, "removed or blocked, yet on the speaker list"
        assert not out & set(room.hands), "removed or blocked, yet a raised hand"
        assert not out & room.invited, "removed or blocked, yet invited"

        # roles agree with the groups, actors with roles
        for user in USERS:
            role = room.role_of(user)
            assert (role == "cohost") == (user in room.cohosts)
            assert (role == "speaker") == (user in room.speakers)
            invited = role == "listener" and user in room.invited | room.guests
            expected = Actor.REMOVED if user in out else Actor.GUEST if invited else Actor(role.value)
            assert room.actor(user) == expected
            assert room.is_moderator(user) == (role in ("host", "cohost"))

    @invariant()
    def publishing_agrees_with_the_table(self) -> None:
        """check_can_publish: on stage, not removed, and live; the right status otherwise."""
        room = self.room
        for user in EVERYONE:
            actor = room.actor(user)
            try:
                room.check_can_publish(user)
            except ClientError as exc:
                if actor == Actor.ANONYMOUS:
                    assert exc.status == UNAUTHORIZED
                elif actor not in ON_STAGE:
                    assert exc.status == FORBIDDEN, f"publish by {actor} {user}: {exc.status}"
                else:
                    assert room.state != SpaceState.LIVE, f"{actor} {user} cannot publish live"
                    assert exc.status == CONFLICT
            else:
                assert actor in ON_STAGE and room.state == SpaceState.LIVE, (
                    f"{actor} {user} may publish in a {room.state} Space"
                )

    @invariant()
    def final_states_are_final(self) -> None:
        room = self.room
        if self.final_state is not None:
            assert room.state == self.final_state, f"left {self.final_state} for {room.state}"
        if room.state in FINAL:
            self.final_state = room.state
            _check_finished(room)
        else:  # and what if the host finished it right now?
            finish = room.end if room.state == SpaceState.LIVE else room.cancel
            _check_finished(finish(room.host_id)[0])

    @invariant()
    def full_means_full(self) -> None:
        """At a cap, every way onto the stage (or to co-hosting) is refused."""
        room = self.room
        if len(room.on_speaker_list) >= limits.MAX_SPEAKERS:
            for user in USERS:
                if user not in room.on_speaker_list:
                    assert _refused(room, "accept_invite_code", user), f"{user} joined a full stage"
                    assert _refused(room, "add_cohost", room.host_id, user)
            for user in room.invited:
                assert _refused(room, "accept_invitation", user), f"{user} joined a full stage"
            for user in room.hands:
                assert _refused(room, "approve_hand", room.host_id, user)
        if len(room.cohosts) >= limits.MAX_COHOSTS:
            for user in USERS:
                assert _refused(room, "add_cohost", room.host_id, user), "a co-host too many"

    @invariant()
    def every_role_is_refused_what_the_table_denies(self) -> None:
        """The model check of the rules, for one person of each kind at every step."""
        room = self.room
        by_actor: dict[Actor, int | None] = {Actor.ANONYMOUS: None}
        for user in USERS:
            by_actor.setdefault(room.actor(user), user)
        others = (*room.hands, *sorted(room.speakers), *sorted(room.cohosts), *USERS)
        for actor, user in by_actor.items():
            other = next(u for u in others if u not in (user, room.host_id))
            for command, action, args in (
                *((c, a, ()) for c, a in SOLO_COMMANDS),
                *((c, a, (other,)) for c, a in COMMANDS_ON_OTHERS),
                ("mute", "mute_self", (user,)),
                ("unmute", "unmute_self", (user,)),
            ):
                if denial_reason(action, actor) is None:
                    continue
                try:
                    getattr(room, command)(user, *args)
                except ClientError as exc:
                    expected = UNAUTHORIZED if user is None else FORBIDDEN
                    assert exc.status == expected, (
                        f"{_call(command, user, *args)}: the table denies {actor!s} "
                        f"'{action}', so expected {expected}, got {exc.status} ({exc.message})"
                    )
                else:
                    raise AssertionError(f"{_call(command, user, *args)} by {actor!s} succeeded")

    @invariant()
    def the_removed_stay_out(self) -> None:
        room = self.room
        for user in room.removed:
            for command in ("accept_invite_code", "accept_invitation", "raise_hand"):
                assert _refused(room, command, user), f"{command} by removed {user}"
            for command in ("invite", "add_cohost"):
                assert _refused(room, command, room.host_id, user), f"{command} of removed {user}"

    @invariant()
    def cohosts_do_not_moderate_the_host_or_each_other(self) -> None:
        room = self.room
        for cohost in room.cohosts:
            demoted, _ = room.remove_cohost(room.host_id, cohost)
            assert demoted.role_of(cohost) == "speaker", "a demoted co-host left the stage"
            assert _refused(room, "mute", cohost, room.host_id), "a co-host muted the host"
            for user in room.cohosts | {room.host_id}:
                assert _refused(room, "remove", cohost, user), f"co-host {cohost} removed {user}"


def _check_finished(room: Room) -> None:
    """An ended or cancelled Space: no lifecycle command, and nobody gets onto its stage."""
    assert room.state in FINAL
    for command in LIFECYCLE:
        try:
            getattr(room, command)(room.host_id)
        except ClientError as exc:
            assert exc.status == CONFLICT, f"{command} on a {room.state} Space: {exc.status}"
        else:
            raise AssertionError(f"{command} succeeded on a {room.state} Space")
    # everyone invited or with a hand up, and one person of each other kind
    kinds = {room.actor(user): user for user in reversed(USERS)}
    for user in {None, *kinds.values(), *room.invited, *room.hands}:
        for command in ("accept_invite_code", "accept_invitation", "raise_hand"):
            assert _refused(room, command, user), f"{command}({user}) when {room.state}"
        for command in ("invite", "add_cohost", "approve_hand"):
            for by in (room.host_id, *room.cohosts):
                assert _refused(room, command, by, user), f"{command}({by}, {user}), {room.state}"


def _call(command: str, *args: object) -> str:
    return f"room.{command}({', '.join(map(repr, args))})"


def _fields(room: Room) -> dict[str, object]:
    """A copy of the Room's fields; they are immutable values, so a shallow copy suffices."""
    return dict(vars(room))


def _refused(room: Room, command: str, *args: object) -> bool:
    """Whether room.<command>(*args) is refused (with a ClientError: anything else fails)."""
    try:
        getattr(room, command)(*args)
    except ClientError:
        return True
    return False


RoomMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=40,
    deadline=None,
    database=None,  # nothing written into the working tree
    # The explain phase re-runs a failing case many times to annotate it: with the probes
    # above, that turns a few seconds of shrinking into minutes. The notes name every call.
    phases=[phase for phase in Phase if phase is not Phase.explain],
    suppress_health_check=[HealthCheck.too_slow],
)
TestRoomStateMachine = RoomMachine.TestCase
