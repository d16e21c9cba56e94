"""The mix and the mix-minus of one tick. Pure numpy: no threads, no clocks."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

_INT16_MIN, _INT16_MAX = -32768, 32767


def mix(inputs: Mapping[str, np.ndarray], samples: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Return (program, {speaker: everyone but that speaker}) as int16 arrays.

    Sums in int32 and clips once, so two loud speakers saturate instead of wrapping.
    """
    total = np.zeros(samples, dtype=np.int32)
    for pcm in inputs.values():
        total += pcm
    program = np.clip(total, _INT16_MIN, _INT16_MAX).astype(np.int16)
    minus = {
        key: np.clip(total - pcm, _INT16_MIN, _INT16_MAX).astype(np.int16)
        for key, pcm in inputs.items()
    }
    return program, minus
