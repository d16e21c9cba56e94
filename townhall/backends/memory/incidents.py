"""The incident timeline's tallies on one node (the protocol: townhall/backends/incidents.py)."""

from __future__ import annotations

from collections import OrderedDict

from townhall import limits
from townhall.domain.incidents import Tally

# Buckets this far behind the newest are closed: their per-network counts are sealed
# into the two numbers the figures need (late tallies still add up, as estimates).
OPEN_BUCKETS = 2


class IncidentBook:
    def __init__(self) -> None:
        self._spaces: dict[str, OrderedDict[float, Tally]] = {}

    async def add(self, space_id: str, tally: Tally) -> None:
        buckets = self._spaces.setdefault(space_id, OrderedDict())
        mine = buckets.get(tally.start)
        if mine is None:
            newest = next(reversed(buckets), None)
            buckets[tally.start] = mine = Tally(start=tally.start)
            if newest is not None and tally.start < newest:
                # Out of order (a late tally after a newer bucket): keep them sorted.
                self._spaces[space_id] = buckets = OrderedDict(sorted(buckets.items()))
        mine.merge(tally)
        starts = list(buckets)
        for start in starts[:-OPEN_BUCKETS]:
            buckets[start].seal()
        while len(buckets) > limits.TIMELINE_MAX_BUCKETS:
            buckets.popitem(last=False)

    async def tallies(self, space_id: str) -> list[Tally]:
        return list(self._spaces.get(space_id, {}).values())

    async def finish(self, space_id: str) -> list[Tally]:
        return list(self._spaces.pop(space_id, {}).values())
