"""The Space state machine: decisions only, no I/O (like h11's connection state)."""

from townhall.rooms.events import Event
from townhall.rooms.space import (
    FINAL,
    Decision,
    IllegalTransition,
    NotAllowed,
    Role,
    Room,
    SpaceState,
)

__all__ = ["FINAL", "Decision", "Event", "IllegalTransition", "NotAllowed", "Role", "Room", "SpaceState"]
