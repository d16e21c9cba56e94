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

    async def beat(self, space_id: str, session: str, now: float) -> bool:
        """Count a player's beacon; False if it came too soon after its last one."""

    async def sample(self, space_id: str, now: float) -> None:
        """Record the concurrent count for the plot."""

    async def summary(self, space_id: str, now: float) -> dict[str, object]: ...

    async def headline(self, space_id: str, now: float) -> tuple[int, int, int]:
        """(concurrent, peak, unique) now."""

    async def finish(self, space_id: str, now: float) -> dict[str, object]:
        """The Space ended: its final figures (to store), and forget it."""
