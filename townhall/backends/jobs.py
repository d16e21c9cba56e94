"""Background jobs (notification fan-outs) queued by one decision and done once.

The twins: memory/jobs.py (one node: an in-process queue; a job queued when the process
stops is lost) and redis/jobs.py (a cluster: a Redis stream with one consumer group, so
each job is taken by exactly one origin; one that dies mid-job leaves it to be claimed
by another, which goes on from the last batch it recorded).

A job is a small JSON-able dict; `progress` records how far it got (a cursor the job
itself understands), and `resumed` tells whoever takes it over where to go on from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Taken:
    id: str
    job: dict[str, Any]
    # Where a previous taker got to (None: it recorded nothing).
    resumed: int | None = None
    # Taken over from another taker (who may have written part of it unrecorded).
    claimed: bool = False


class JobQueue(Protocol):
    def put(self, job: dict[str, Any]) -> None:
        """Queue a job (on the event loop: never waits; a full queue drops it, logged)."""

    async def take(self) -> Taken:
        """The next job for this node (waits for one)."""

    async def progress(self, job_id: str, cursor: int) -> None:
        """How far the job got: another node taking it over goes on from here."""

    async def done(self, job_id: str) -> None:
        """The job is finished (or given up): nobody takes it again."""

    def waiting(self) -> int:
        """Jobs queued here and not yet handed out (a metric)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...
