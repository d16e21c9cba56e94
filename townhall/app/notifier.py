"""Notifications: who hears what, written by a background worker, sent on by channels.

A decision that should notify people (a Space going live, a Space scheduled, a speaker
invited: townhall/app/spaces.py calls `after_decision`) only puts one small job on a
queue; going live never waits for its fan-out. The worker takes one job at a time and
writes the rows in batches of NOTIFY_BATCH_SIZE, each batch its own transaction on a
DATABASE thread (townhall/threads.py), so a host with a million followers never holds
a database thread, or the event loop, for long.

Each batch is also offered to the other channels (email: townhall/app/mailer.py, Web
Push: townhall/app/webpush.py), each with only the people who did not turn that kind
off there. A channel has its own bounded queue and worker: a slow mail server never
holds up the in-app notifications, nor one channel another.

Jobs go through a JobQueue (townhall/backends/jobs.py). One node: an in-process queue,
so a job queued when the process stops is lost (people miss that one notification;
nothing else breaks). A cluster: a Redis stream with one consumer group, so each job is
done by one origin; the worker records its cursor after every batch, and an origin that
takes over a job from a dead one goes on from there, skipping anyone who already has
this notification (a batch written just before the death is not written twice).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from pydantic import BaseModel

from townhall import limits, threads
from townhall.app.presenters import UserRef
from townhall.backends.jobs import JobQueue, Taken
from townhall.backends.memory.jobs import MemoryJobQueue
from townhall.domain import Event, Room
from townhall.domain.events import SpeakerInvited, StateChanged
from townhall.store import delivery
from townhall.store import follows as store
from townhall.store import rooms as room_store
from townhall.store.db import Database
from townhall.store.models import Notification, Space, User

log = logging.getLogger(__name__)

LIVE = "live"  # someone you follow went live
SCHEDULED = "scheduled"  # someone you follow scheduled a Space
REMINDER = "reminder"  # a Space you set a reminder for started
INVITED = "invited"  # you were invited to speak
EXPIRING = "expiring"  # your replay will be deleted soon (townhall/app/recordings.py)


@dataclass(frozen=True)
class Job:
    kind: str
    space_id: str
    actor_id: int
    # Who hears it: these people, or (None) the actor's followers.
    to: tuple[int, ...] | None = None

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "space_id": self.space_id, "actor_id": self.actor_id,
                "to": list(self.to) if self.to is not None else None}

    @classmethod
    def of(cls, data: dict[str, Any]) -> Job:
        to = data.get("to")
        return cls(str(data["kind"]), str(data["space_id"]), int(data["actor_id"]),
                   tuple(int(u) for u in to) if to is not None else None)


@dataclass(frozen=True)
class Delivery:
    """One batch for a channel: who (already allowed to view the Space, not blocked by
    its host, and wanting this kind on this channel) hears what."""

    kind: str
    space_id: str
    actor_id: int
    user_ids: tuple[int, ...]


class Channel:
    """A way out besides the app. Subclasses name themselves (`name`, one of
    store.delivery.CHANNELS) and implement `send`; the queue and worker are here."""

    name = ""

    def __init__(self, queue_size: int = limits.DELIVERY_QUEUE_SIZE) -> None:
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None
        # {outcome: count} ("sent", "failed", "dropped"), read by /metrics.
        self.counts: dict[str, int] = {"sent": 0, "failed": 0, "dropped": 0}

    async def send(self, delivery: Delivery) -> None:
        """Send one batch; count what went out and what failed in `self.counts`."""
        raise NotImplementedError

    def offer(self, delivery: Delivery) -> None:
        """Queue a batch (on the event loop: never blocks; a full queue drops it, logged)."""
        try:
            self.queue.put_nowait(delivery)
        except asyncio.QueueFull:
            self.counts["dropped"] += len(delivery.user_ids)
            log.warning("%s queue full: %s for Space %s to %d people not sent", self.name,
                        delivery.kind, delivery.space_id, len(delivery.user_ids))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"notify-{self.name}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def idle(self) -> None:
        await self.queue.join()

    async def _run(self) -> None:
        while True:
            delivery = await self.queue.get()
            try:
                await self.send(delivery)
            except Exception:
                self.counts["failed"] += len(delivery.user_ids)
                log.exception("%s for %s of Space %s failed", self.name, delivery.kind,
                              delivery.space_id)
            finally:
                self.queue.task_done()


# What one batch wrote: who got an in-app row, and per channel (in order) its batch or None.
Written = tuple[list[int], list[Delivery | None]]


class NotificationOut(BaseModel):
    id: int
    kind: str
    # The notification as a sentence, ready to show.
    text: str
    space_id: str | None
    url: str | None  # the Space's page (a path on this site)
    actor: UserRef | None
    created_at: str
    read: bool


def sentence(kind: str, actor: str, title: str) -> str:
    if kind == LIVE:
        return f"{actor} is live: {title}"
    if kind == SCHEDULED:
        return f"{actor} scheduled a Space: {title}"
    if kind == REMINDER:
        return f"A Space you set a reminder for has started: {title}"
    if kind == INVITED:
        return f"{actor} invited you to speak: {title}"
    if kind == EXPIRING:
        return (f"Your replay will be deleted soon (replays are kept for a set time): "
                f"{title}. Open it to see the date, or download it to keep it.")
    return title


def present(db: Any, rows: list[Notification]) -> list[NotificationOut]:
    """Notifications as the API sends them (in a database session)."""
    out = []
    for n in rows:
        actor = db.get(User, n.actor_id) if n.actor_id is not None else None
        space = db.get(Space, n.space_id) if n.space_id is not None else None
        name = (actor.display_name or actor.username) if actor is not None else "Someone"
        out.append(NotificationOut(
            id=n.id, kind=n.kind, text=sentence(n.kind, name, space.title if space else ""),
            space_id=n.space_id, url=f"/s/{n.space_id}" if n.space_id else None,
            actor=UserRef.of(actor) if actor is not None else None,
            created_at=n.created_at.replace(tzinfo=UTC).isoformat(),
            read=n.read_at is not None))
    return out


class Notifier:
    def __init__(self, db: Database, batch: int = limits.NOTIFY_BATCH_SIZE,
                 channels: tuple[Channel, ...] = (), jobs: JobQueue | None = None) -> None:
        self.db = db
        self.batch = batch
        self.channels = channels
        self.jobs: JobQueue = jobs if jobs is not None else MemoryJobQueue()
        self._task: asyncio.Task[None] | None = None
        # In-app notifications written since start (read by /metrics).
        self.written = 0
        # Told who just got an in-app notification (townhall/app/inbox.py: the bells).
        self.on_written: Callable[[list[int]], None] | None = None

    # -- what decisions call (on the event loop: never blocks) -------------------------
    def enqueue(self, job: Job) -> None:
        self.jobs.put(job.as_json())

    def after_decision(self, space_id: str, viewer: int | None, events: tuple[Event, ...],
                       room: Room) -> None:
        """A Space went live (its followers and those with a reminder hear it), or
        someone was invited to speak (they hear it)."""
        for event in events:
            if isinstance(event, StateChanged) and event.state == "live":
                self.enqueue(Job(LIVE, space_id, room.host_id))
            elif isinstance(event, SpeakerInvited):
                self.enqueue(Job(INVITED, space_id, viewer or room.host_id, (event.user_id,)))

    def scheduled(self, space_id: str, host_id: int, private: bool) -> None:
        """A Space was scheduled: a public one is news to its host's followers."""
        if not private:
            self.enqueue(Job(SCHEDULED, space_id, host_id))

    # -- the worker ---------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notifier")
        for channel in self.channels:
            channel.start()

    async def close(self) -> None:
        for task in (self._task, *(channel._task for channel in self.channels)):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass

    async def idle(self) -> None:
        """Until every job queued here so far is written and sent (tests, benchmarks;
        one node's queue)."""
        idle = getattr(self.jobs, "idle", None)
        if idle is not None:
            await idle()
        for channel in self.channels:
            await channel.idle()

    async def _run(self) -> None:
        while True:
            taken = await self.jobs.take()
            try:
                await self.process(Job.of(taken.job), taken)
            except Exception:  # a bug: given up (logged), not retried forever
                log.exception("notifications for job %s failed: %s", taken.id, taken.job)
            # Not when cancelled (shutting down): in a cluster another origin goes on.
            await self.jobs.done(taken.id)

    async def process(self, job: Job, taken: Taken | None = None) -> int:
        """Write one job's notifications and offer them to the channels; the number of
        in-app notifications written. `taken`: the queue's handle (its progress is
        recorded after each batch); a job taken over from another worker goes on from
        its cursor and skips whoever already has this notification."""
        started = time.perf_counter()
        resumed = taken is not None and taken.claimed
        cursor = taken.resumed if taken is not None else None
        room = await threads.run(threads.DATABASE, self._room, job.space_id)
        if job.to is not None:
            to = [u for u in job.to if room.may("view", u)]
            return self._offer(await threads.run(threads.DATABASE, self._deliver, to, job,
                                                 resumed))
        notified = 0
        if job.kind == LIVE and cursor is None:  # a reminder, not also "someone you follow"
            reminded = await threads.run(threads.DATABASE, self._reminded, job.space_id)
            to = [u for u in reminded if room.may("view", u)]
            notified += self._offer(await threads.run(
                threads.DATABASE, self._deliver, to, Job(REMINDER, job.space_id, job.actor_id),
                resumed))
            await self._progress(taken, 0)
        if room.private:  # followers who are not members may not even see it exists
            return notified
        after, batches = cursor or 0, 0
        while True:
            last = await threads.run(threads.DATABASE, self._batch, job, after, resumed)
            if last is None:
                break
            after, written = last
            notified += self._offer(written)
            await self._progress(taken, after)
            batches += 1
            if batches % 10 == 0:
                log.info("notifying followers of user %d (%s, Space %s): %d so far",
                         job.actor_id, job.kind, job.space_id, notified)
        log.info("notified %d people (%s, Space %s) in %.2f s", notified, job.kind,
                 job.space_id, time.perf_counter() - started)
        return notified

    async def _progress(self, taken: Taken | None, cursor: int) -> None:
        if taken is not None:
            await self.jobs.progress(taken.id, cursor)

    def _offer(self, written: Written) -> int:
        """Hand a written batch's deliveries to their channels; the in-app rows written."""
        in_app, deliveries = written
        for channel, batch in zip(self.channels, deliveries, strict=True):
            if batch is not None:
                channel.offer(batch)
        self.written += len(in_app)
        if self.on_written is not None and in_app:
            self.on_written(in_app)
        return len(in_app)

    def _room(self, space_id: str) -> Room:
        with self.db.session() as db:
            return room_store.load(db, space_id)[1]

    def _reminded(self, space_id: str) -> list[int]:
        with self.db.session() as db:
            return store.reminded(db, space_id)

    def _deliver(self, to: list[int], job: Job, resumed: bool) -> Written:
        with self.db.session() as db:
            return self._write(db, to, job, resumed)

    def _batch(self, job: Job, after: int, resumed: bool) -> tuple[int, Written] | None:
        with self.db.session() as db:
            found = store.fan_out_batch(db, job.space_id, job.actor_id, after, self.batch,
                                        skip_reminded=job.kind == LIVE)
            if found is None:
                return None
            last, to = found
            return last, self._write(db, to, job, resumed)

    def _write(self, db: Any, to: list[int], job: Job, resumed: bool) -> Written:
        """In-app rows for those of `to` who want this kind in the app, and for each
        channel the batch of those who want it there (on a DATABASE thread, in the
        batch's transaction). A resumed job leaves out whoever already has it."""
        if resumed:
            have = store.already_notified(db, to, job.kind, job.space_id, job.actor_id)
            to = [u for u in to if u not in have]
        in_app = delivery.wanting(db, to, job.kind, delivery.APP)
        store.add(db, in_app, job.kind, job.space_id, job.actor_id)
        batches = []
        for channel in self.channels:
            wanting = delivery.wanting(db, to, job.kind, channel.name)
            batches.append(Delivery(job.kind, job.space_id, job.actor_id, tuple(wanting))
                           if wanting else None)
        return in_app, batches
