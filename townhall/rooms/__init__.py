"""The Space state machine: decisions only, no I/O (like h11's connection state)."""

from townhall.rooms.space import (
    IllegalTransition,
    NotAllowed,
    Role,
    Room,
    SpaceState,
)

__all__ = ["IllegalTransition", "NotAllowed", "Role", "Room", "SpaceState"]
