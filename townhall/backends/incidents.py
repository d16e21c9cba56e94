"""Where the incident timeline's tallies live (method: townhall/domain/incidents.py).

Each origin counts what it answers for a Space in the current bucket (townhall/app/
incidents.py) and hands its tally to the book every second or so; the book adds up the
tallies of every origin (and of the edge's access log) per bucket. The twins:
memory/incidents.py (one node) and redis/incidents.py (a cluster's origins add up in
Redis: counters with HINCRBY, networks in a sorted set with the same bound, samples in
capped lists, one Lua script per tally). Bounded: TIMELINE_MAX_BUCKETS per Space, each
with at most TIMELINE_MAX_NETWORKS networks while it is open.
"""

from __future__ import annotations

from typing import Protocol

from townhall.domain.incidents import Tally


class IncidentBook(Protocol):
    async def add(self, space_id: str, tally: Tally) -> None:
        """Add one source's counts for one bucket (counted since its last add)."""

    async def tallies(self, space_id: str) -> list[Tally]:
        """Every bucket of the Space, oldest first, with all sources added up."""

    async def finish(self, space_id: str) -> list[Tally]:
        """The Space ended: its tallies (to store with it), and forget them."""
