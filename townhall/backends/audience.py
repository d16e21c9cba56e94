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

from townhall.limits import BEACON_INTERVAL

# A listener counts as present for 2.5 intervals after a beacon: one lost beacon does
# not make them disappear from the count.
CONCURRENT_WINDOW = 2.5 * BEACON_INTERVAL
# The concurrent count is sampled this often for the plot of the Space.
SAMPLE_EVERY = 10.0
# Beacons from one session closer together than this are ignored (a player in a loop).
MIN_BEACON_GAP = BEACON_INTERVAL / 4
