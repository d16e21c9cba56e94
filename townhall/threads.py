"""Thread pools for blocking work, one per kind, so the event loop never blocks and no
kind of work queues behind another.

The loop carries WebRTC and blocking playlist reloads; aiortc also encodes every
outgoing audio frame in the loop's default executor, so that one is left to it. Pools
are small on purpose: threads running Python compete with the loop for the GIL, and a
few dozen busy ones starve it (a burst of 50 API writes on 32 threads stalled a
speaker's mix-minus by ~150 ms; benchmarks/burst_stall.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from townhall import limits

P = ParamSpec("P")
T = TypeVar("T")

# The database (sessions, queries, commits): SQLite serialises writers anyway.
DATABASE = ThreadPoolExecutor(limits.DATABASE_THREADS, thread_name_prefix="townhall-db")
# The live media's own files (recorded segments, their index, the started-segment
# note): never behind anything else, since a part waits for its note.
MEDIA_FILES = ThreadPoolExecutor(limits.MEDIA_FILE_THREADS, thread_name_prefix="townhall-rec")
# Files served to clients (replays, recorded segments) and other small file work.
FILES = ThreadPoolExecutor(limits.FILE_THREADS, thread_name_prefix="townhall-files")
# Password hashing (argon2 releases the GIL): a guessing flood waits here, not in the
# database's queue.
PASSWORDS = ThreadPoolExecutor(limits.PASSWORD_THREADS, thread_name_prefix="townhall-pw")
# Decoding and resizing uploaded avatars (Pillow): one at a time, never behind (or in
# front of) the files served to listeners.
IMAGES = ThreadPoolExecutor(limits.IMAGE_THREADS, thread_name_prefix="townhall-img")
# Notification email over SMTP (townhall/app/mailer.py): a slow mail server holds only
# this thread, never the database's.
MAIL = ThreadPoolExecutor(limits.MAIL_THREADS, thread_name_prefix="townhall-mail")
# Encrypting Web Push messages (townhall/app/webpush.py): never on the event loop, and
# a large go-live's pushes never queue in front of the database's work.
PUSH = ThreadPoolExecutor(limits.PUSH_THREADS, thread_name_prefix="townhall-push")
# Remuxing replays and clips to .m4a (townhall/media/export.py): bounded, and never in
# front of the recorded segments served to listeners.
EXPORTS = ThreadPoolExecutor(limits.EXPORT_THREADS, thread_name_prefix="townhall-export")


async def run(pool: ThreadPoolExecutor, fn: Callable[P, T], *args: P.args,
              **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)` in `pool`, awaited (like asyncio.to_thread, which always
    uses the default executor)."""
    context = contextvars.copy_context()
    call = functools.partial(context.run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(pool, call)
