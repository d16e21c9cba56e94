"""How fast the notification worker fans out "X is live" to a host's followers.

One command:  .venv/bin/python -m benchmarks.notify_fanout [--followers 100000]

In a temporary directory: a SQLite database migrated to the newest schema, one host,
--followers accounts following them (written in bulk, not timed), a Space. Then the
same path a go-live takes (townhall/app/notifier.py): the Room decides "live" through
SpaceCommands.act, whose hook queues one job; the worker writes the rows in batches of
limits.NOTIFY_BATCH_SIZE on the DATABASE thread pool. Printed: how long act() took
(what the host waits for), the fan-out's time and followers notified per second, and
how late a 10 ms ticker on the event loop ran meanwhile (p99 and worst), next to the
same figures with nothing running (the machine's own noise). Bounded: fails after
--timeout seconds (default 300).

With --email N, the first N followers also have a confirmed address and the email
channel (townhall/app/mailer.py) sends to a real local SMTP server (aiosmtpd on
127.0.0.1 in a process of its own, counting what it receives): printed, emails delivered per second, and the
in-app figure measured in the same run (the mail goes on its own queue and thread).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import multiprocessing
import socket
import sys
import tempfile
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy import func, insert, select

from townhall import limits
from townhall.app.locks import SpaceLocks
from townhall.app.mailer import EmailChannel, EmailLinks, SmtpServer
from townhall.app.notifier import Notifier
from townhall.app.presenters import LiveFacts
from townhall.app.spaces import SpaceCommands
from townhall.backends.bus import EventBus
from townhall.store.db import Database
from townhall.store.models import Follow, Notification, Space, User
from townhall.testing.servers import free_port
from townhall.testing.waiting import wait_until

IDLE_SECONDS = 2.0  # the loop's lateness measured with nothing running, for comparison
ROWS_PER_INSERT = 10_000  # setting up: users and follows written this many at a time


class CountingSmtp:
    """aiosmtpd handler: counts the messages it accepts (their text is not kept)."""

    def __init__(self, received) -> None:  # type: ignore[no-untyped-def]
        self.received = received  # a multiprocessing.Value, read by the benchmark

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        with self.received.get_lock():
            self.received.value += len(envelope.rcpt_tos)
        return "250 OK"


def smtp_server(port: int, received, stop) -> None:  # type: ignore[no-untyped-def]
    """The SMTP server in a process of its own, as a real one would be (in this one it
    would share the GIL with the sender)."""
    controller = Controller(CountingSmtp(received), hostname="127.0.0.1", port=port)
    controller.start()
    stop.wait()
    controller.stop()


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def populate(db: Database, followers: int, emails: int = 0) -> int:
    with db.session() as s:
        host = User(username="host", password_hash="x")
        s.add(host)
        s.flush()
        s.add(Space(id="bench", title="Launch day", host_id=host.id))
        host_id = host.id
    for start in range(0, followers, ROWS_PER_INSERT):
        ids = range(host_id + 1 + start, host_id + 1 + min(followers, start + ROWS_PER_INSERT))
        with db.session() as s:
            s.execute(insert(User), [
                {"id": i, "username": f"f{i}", "password_hash": "x", "display_name": "",
                 "bio": "", "email": f"f{i}@example.org" if i - host_id <= emails else None,
                 "email_confirmed": i - host_id <= emails} for i in ids])
            s.execute(insert(Follow), [{"follower_id": i, "followee_id": host_id}
                                       for i in ids])
    return host_id


async def measure(db: Database, host_id: int, followers: int,
                  email: EmailChannel | None = None) -> dict[str, float]:
    notifier = Notifier(db, channels=(email,) if email is not None else ())

    async def no_media(space_id: str, events: object) -> None:
        return None

    commands = SpaceCommands(db, EventBus(), SpaceLocks(), lambda _: LiveFacts(), no_media,
                             notifier.after_decision)
    late: list[float] = []
    running = True

    async def ticker() -> None:
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            late.append(now - last - 0.01)
            last = now

    # The loop's lateness with nothing to do, for comparison (the machine's own noise).
    tick = asyncio.create_task(ticker())
    await asyncio.sleep(IDLE_SECONDS)
    idle = sorted(late)
    late.clear()
    notifier.start()
    started = time.perf_counter()
    await commands.act("bench", host_id, lambda room: room.go_live(host_id), "http://bench")
    answered = time.perf_counter() - started
    while notifier.written < followers:  # the in-app rows alone (the mail goes on)
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    await notifier.idle()
    mailed = time.perf_counter() - started
    running = False
    await tick
    await notifier.close()
    with db.session() as s:
        written = s.scalar(select(func.count()).select_from(Notification)) or 0
    assert written == followers, (written, followers)
    busy = sorted(late)
    return {"answered_s": answered, "fanout_s": elapsed, "per_s": followers / elapsed,
            "mail_s": mailed, "mail_sent": email.counts["sent"] if email else 0,
            "idle_p99_ms": idle[int(len(idle) * 0.99)] * 1000, "idle_max_ms": idle[-1] * 1000,
            "p99_ms": busy[int(len(busy) * 0.99)] * 1000, "max_ms": busy[-1] * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--followers", type=int, default=100_000)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--email", type=int, default=0,
                        help="followers who also get an email (to a local SMTP server)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sys.setswitchinterval(limits.GIL_SWITCH_INTERVAL)  # as the server runs (runtime.py)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        t0 = time.perf_counter()
        host_id = populate(db, args.followers, args.email)
        print(f"{args.followers:,} followers written in {time.perf_counter() - t0:.1f} s "
              f"(setup, not timed)")
        gc.collect()  # as Services.start does: setup's objects are never scanned again
        gc.freeze()
        received, stop = multiprocessing.Value("q", 0), multiprocessing.Event()
        smtp, email = None, None
        if args.email:
            port = free_port()
            smtp = multiprocessing.Process(target=smtp_server, args=(port, received, stop))
            smtp.start()
            wait_until(lambda: _listening(port), "the SMTP server", timeout=30)
            email = EmailChannel(db, SmtpServer("127.0.0.1", port, "none"),
                                 EmailLinks(b"b" * 32, "http://127.0.0.1"),
                                 "Townhall <townhall@localhost>")
        try:
            r = asyncio.run(asyncio.wait_for(measure(db, host_id, args.followers, email),
                                             args.timeout))
        except TimeoutError:
            print(f"fan-out did not finish within {args.timeout:.0f} s", file=sys.stderr)
            return 1
        finally:
            db.close()
            if smtp is not None:
                stop.set()
                smtp.join(30)
    print(f"go-live answered in {r['answered_s'] * 1000:.1f} ms (the fan-out is queued)")
    print(f"fan-out: {args.followers:,} notifications in {r['fanout_s']:.2f} s, batches of "
          f"{limits.NOTIFY_BATCH_SIZE:,}: {r['per_s']:,.0f} followers notified per second")
    print(f"event loop lateness (10 ms ticks) during the fan-out: p99 {r['p99_ms']:.1f} ms, "
          f"max {r['max_ms']:.1f} ms; idle before it: p99 {r['idle_p99_ms']:.1f} ms, "
          f"max {r['idle_max_ms']:.1f} ms")
    if args.email:
        assert received.value == r["mail_sent"] == args.email, (received.value, r["mail_sent"])
        print(f"email: {args.email:,} messages received by the SMTP server in "
              f"{r['mail_s']:.2f} s from go-live: {args.email / r['mail_s']:,.0f} per second "
              f"(one connection per batch, chunks of {limits.EMAIL_SEND_CHUNK})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
