"""The soak's short version (benchmarks/soak.py, one minute): a live Space on a cluster
origin (Redis, PostgreSQL) while guests take turns on stage and listeners come and go.
It must end with the origin's descriptors and threads back near their level, few late
mixer ticks, every listener served, and the recording whole. The 30-minute soak and its
slopes: RELIABILITY.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_minute_of_churn_leaves_nothing_behind(tmp_path: Path) -> None:
    out = tmp_path / "soak"
    run = subprocess.run([sys.executable, "-m", "benchmarks.soak", "--minutes", "1", "--check",
                          "--out", str(out)], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["joins"] >= 5 and result["leaves"] >= 4, result
    assert result["listener_sessions"] >= 6 and result["listener_errors"] == 0
    assert result["recording"]["missing"] == [] and result["recording"]["segments"] >= 25
    assert out.with_suffix(".svg").read_text().startswith("<svg")
