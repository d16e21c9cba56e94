"""Mixing admission: what a node has taken on, and whether one more Space or speaker fits.

A node refuses a go-live or a new speaker it cannot mix in real time (503 node_full,
with Retry-After) rather than making every Space's ticks late. The cost model is linear
and measured (limits.SPACE_MIX_COST, limits.SPEAKER_MIX_COST: BENCHMARKS.md §3):
cost = Spaces x SPACE_MIX_COST + speakers x SPEAKER_MIX_COST, in shares of one core,
against the node's budget (limits.MIX_BUDGET). Pure: the caller counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from townhall import limits
from townhall.domain.errors import Unavailable

NODE_FULL = "node_full"


class NodeFull(Unavailable):
    code = NODE_FULL
    retry_after = limits.NODE_FULL_RETRY_AFTER


@dataclass(frozen=True)
class MixLoad:
    spaces: int  # Spaces whose media runs here (live or a waiting room)
    speakers: int  # speakers connected here, or with an offer being answered

    @property
    def cost(self) -> float:
        return self.spaces * limits.SPACE_MIX_COST + self.speakers * limits.SPEAKER_MIX_COST


def cost_of(spaces: int = 0, speakers: int = 0) -> float:
    """What `spaces` Spaces and `speakers` speakers cost to mix, in shares of one core."""
    return MixLoad(spaces, speakers).cost


def admit(load: MixLoad, budget: float, spaces: int = 0, speakers: int = 0) -> None:
    """Raise NodeFull unless `spaces` more Spaces and `speakers` more speakers fit."""
    after = MixLoad(load.spaces + spaces, load.speakers + speakers)
    if after.cost > budget + 1e-9:  # a sum of float shares: exactly the budget fits
        what = "start another live Space" if spaces else "take another speaker"
        raise NodeFull(f"This server is mixing as many Spaces as it can ({load.spaces} "
                       f"Spaces, {load.speakers} speakers) and cannot {what} right now. "
                       f"Try again in a minute.")
