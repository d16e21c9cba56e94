"""Audience figures that can be checked, and that work behind any caching edge.

Method (also in README): every player (the web player, `townhall bench listeners`) makes a random
session id when it starts and sends it in a small beacon (POST, never cached) every
BEACON_INTERVAL seconds while it plays. A listener is *concurrent* while their last
beacon is younger than CONCURRENT_WINDOW; *unique* listeners are distinct session ids
over the Space's life; a *join* is a session id's first beacon. Anonymous players count
like signed-in ones. Counting beacons, not HLS requests, is what makes the figures
survive a CDN: the edge answers most media requests itself and the origin never sees
them. The twins: memory/audience.py (one node, exact) and redis/audience.py (a
cluster: a sorted set for the window, HyperLogLog for uniques).

Who is listening (the listener roster): a beacon from a signed-in player also records
that person's id, in a per-Space map of user id -> last beacon time that expires with
the same CONCURRENT_WINDOW; anonymous players are kept by session and only counted.
"""

from __future__ import annotations

from typing import Protocol

from townhall.limits import BEACON_INTERVAL

# A listener counts as present for 2.5 intervals after a beacon: one lost beacon does
# not make them disappear from the count.
CONCURRENT_WINDOW = 2.5 * BEACON_INTERVAL
# The concurrent count is sampled this often for the plot of the Space.
SAMPLE_EVERY = 10.0
# Beacons from one session closer together than this are ignored (a player in a loop).
MIN_BEACON_GAP = BEACON_INTERVAL / 4


class AudienceBook(Protocol):
    """The audience figures of every Space: memory/audience.py (one node, exact) and
    redis/audience.py (shared by a cluster's origins) give the same answers."""

    async def beat(self, space_id: str, session: str, now: float,
                   user_id: int | None = None) -> bool:
        """Count a player's beacon; False if it came too soon after its last one.
        `user_id`: the signed-in person playing, if any (who is listening now)."""

    async def playing(self, space_id: str, session: str, now: float) -> bool:
        """Is this player already counted as listening (a beacon within the window)?
        A player that is not is a new listener (townhall/http/api/audience.py limits
        how many of those one address brings)."""

    async def listening(self, space_id: str, now: float, limit: int,
                        leave_out: frozenset[int] = frozenset()) -> tuple[list[int], int]:
        """Who is listening now: up to `limit` signed-in people heard from within
        CONCURRENT_WINDOW (the latest beacon first, none of `leave_out`), and how many
        anonymous players. Bounded work: at most limit + len(leave_out) people read."""

    async def sample(self, space_id: str, now: float) -> None:
        """Record the concurrent count for the plot."""

    async def summary(self, space_id: str, now: float) -> dict[str, object]: ...

    async def headline(self, space_id: str, now: float) -> tuple[int, int, int]:
        """(concurrent, peak, unique) now."""

    async def finish(self, space_id: str, now: float) -> dict[str, object]:
        """The Space ended: its final figures (to store), and forget it."""
