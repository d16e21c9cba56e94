"""Polling with a deadline, for tests and benchmarks: wait until a check holds, or fail
saying what never happened.

    wait_until(lambda: api.get(url).json()["live"], "the Space to go live", timeout=10)
    await wait_until_async(lambda: reader.parts, "a first part", timeout=20)
    wait_started(process, healthy, "the server", 30, log=server.log,
                 ignore=(httpx.TransportError,))
"""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
# What was awaited, for the failure: text, or a function making it at the moment of
# failure (to show the state the check last saw).
What = str | Callable[[], str]
Errors = tuple[type[BaseException], ...]


class WaitTimeout(AssertionError):
    """A check did not hold in time. An AssertionError, so that in a test it reads as the
    test's point failing."""


def _failure(what: What, timeout: float) -> WaitTimeout:
    text = what() if callable(what) else what
    return WaitTimeout(f"timed out after {timeout:g} s waiting for {text}")


def wait_until(check: Callable[[], T], what: What, timeout: float, interval: float = 0.1,
               ignore: Errors = ()) -> T:
    """Call `check()` until it returns something truthy, and return that; every
    `interval` seconds, for at most `timeout` seconds, then raise WaitTimeout. An
    exception of a kind in `ignore` counts as "not yet" (the last one is chained to the
    WaitTimeout); any other passes through at once, so a check that knows waiting is
    hopeless can say so."""
    deadline = time.monotonic() + timeout
    while True:
        error: BaseException | None = None
        try:
            value = check()
        except ignore as exc:
            value, error = None, exc  # type: ignore[assignment]
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _failure(what, timeout) from error
        time.sleep(interval)


async def wait_until_async(check: Callable[[], T | Awaitable[T]], what: What, timeout: float,
                           interval: float = 0.1, ignore: Errors = ()) -> T:
    """wait_until in an event loop: `check` may be a coroutine function (or return an
    awaitable), and the waits between checks are asyncio.sleep."""
    deadline = time.monotonic() + timeout
    while True:
        error: BaseException | None = None
        try:
            value = check()
            if inspect.isawaitable(value):
                value = await value
        except ignore as exc:
            value, error = None, exc
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise _failure(what, timeout) from error
        await asyncio.sleep(interval)


def wait_started(process: subprocess.Popen, check: Callable[[], object], what: str,
                 timeout: float, log: Callable[[], str] = lambda: "", interval: float = 0.1,
                 ignore: Errors = (), stop: Callable[[], None] | None = None) -> None:
    """Wait until `check()` holds for a `process` just started (it answers on its port,
    say; an exception of a kind in `ignore` means not yet). The process exiting
    meanwhile raises RuntimeError at once; the timeout stops it (`stop()`, or a kill)
    and raises RuntimeError; both with `log()` (its output) in the message."""
    errors: list[BaseException] = []

    def ready() -> object:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{log()}")
        try:
            return check()
        except ignore as exc:
            errors[:] = [exc]
            return False

    try:
        wait_until(ready, what, timeout, interval)
    except WaitTimeout:
        if stop is not None:
            stop()
        else:
            process.kill()
            process.wait()
        raise RuntimeError(f"{what} did not start within {timeout:g} s:\n{log()}") \
            from (errors[0] if errors else None)
