"""The mixing cost model (townhall/domain/capacity.py): admitted up to the budget, not beyond."""

from __future__ import annotations

import pytest

from townhall import limits
from townhall.domain.capacity import NODE_FULL, MixLoad, NodeFull, admit

ONE_SPACE_TWO_SPEAKERS = limits.SPACE_MIX_COST + 2 * limits.SPEAKER_MIX_COST


def test_the_cost_model_admits_up_to_the_budget_and_not_beyond() -> None:
    budget = ONE_SPACE_TWO_SPEAKERS
    admit(MixLoad(0, 0), budget, spaces=1, speakers=1)
    admit(MixLoad(1, 1), budget, speakers=1)
    with pytest.raises(NodeFull) as refused:
        admit(MixLoad(1, 2), budget, speakers=1)
    assert refused.value.status == 503 and refused.value.code == NODE_FULL
    assert refused.value.retry_after == limits.NODE_FULL_RETRY_AFTER
    with pytest.raises(NodeFull):
        admit(MixLoad(1, 1), budget, spaces=1, speakers=1)
    # The shipped budget: eight full 4-speaker Spaces (one core held 9 on a busy
    # machine, BENCHMARKS.md §12) and a ninth's first speaker, not its second.
    four = MixLoad(8, 32)
    admit(four, limits.MIX_BUDGET, spaces=1, speakers=1)
    with pytest.raises(NodeFull):
        admit(four, limits.MIX_BUDGET, spaces=1, speakers=2)
    # A full 13-speaker Space fits beside four of those.
    admit(MixLoad(4, 16), limits.MIX_BUDGET, spaces=1, speakers=13)
