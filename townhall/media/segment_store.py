"""Where playlists, parts and segments live while a Space is on air.

The interface is what HLS origins need: get a named object, get the playlist, and wait
until the playlist reaches a position (blocking playlist reload). Its twins live in
townhall/backends: memory/segments.py (one node) and redis/segments.py (clusters).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from townhall.media.llhls import Position


@dataclass(frozen=True)
class PlaylistSnapshot:
    text: str
    position: Position | None
    ended: bool
    # EXT-X-DISCONTINUITY-SEQUENCE: grows by one each time another run of the mixer
    # (a restart, a failover to another node) continues the same playlist.
    discontinuity_sequence: int = 0

    def reached(self, msn: int, part: int | None) -> bool:
        """Does this playlist answer a blocking reload for (msn, part)? An ended one
        answers every request (there will be nothing newer)."""
        return self.ended or (self.position is not None and self.position.has(msn, part))


class SegmentStore(ABC):
    async def start(self) -> None:
        """Connect what needs connecting (a shared store subscribes to changes)."""

    async def close(self) -> None: ...

    @abstractmethod
    async def put(self, space_id: str, name: str, data: bytes) -> None: ...

    @abstractmethod
    async def get(self, space_id: str, name: str) -> bytes | None: ...

    @abstractmethod
    async def delete(self, space_id: str, names: list[str]) -> None: ...

    @abstractmethod
    async def set_playlist(self, space_id: str, snapshot: PlaylistSnapshot) -> None: ...

    @abstractmethod
    async def playlist(self, space_id: str) -> PlaylistSnapshot | None: ...

    @abstractmethod
    async def wait_for(
        self, space_id: str, msn: int, part: int | None, timeout: float
    ) -> PlaylistSnapshot | None:
        """The playlist once it has (msn, part) or has ended; None on timeout."""

    @abstractmethod
    async def drop_space(self, space_id: str) -> None: ...
