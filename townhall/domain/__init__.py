"""The Space state machine: decisions only, no I/O (like h11's connection state)."""

from townhall.domain.events import Event
from townhall.domain.room import (
    FINAL,
    Decision,
    EndReason,
    IllegalTransition,
    NotAllowed,
    Role,
    Room,
    SpaceState,
)

__all__ = ["FINAL", "Decision", "EndReason", "Event", "IllegalTransition", "NotAllowed", "Role", "Room", "SpaceState"]
