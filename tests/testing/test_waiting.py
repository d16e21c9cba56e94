"""townhall/testing/waiting.py: the one poll-with-a-deadline of the tests and benchmarks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from townhall.testing.waiting import WaitTimeout, wait_started, wait_until, wait_until_async


def test_wait_until_returns_the_first_truthy_value() -> None:
    values = iter([0, None, [], "ready"])
    assert wait_until(lambda: next(values), "a value", 5, interval=0) == "ready"


def test_wait_until_says_what_it_waited_for() -> None:
    seen = []
    with pytest.raises(WaitTimeout, match=r"timed out after 0.05 s waiting for state [2-9]"):
        wait_until(lambda: seen.append(1), lambda: f"state {len(seen)}", 0.05, interval=0.02)
    assert isinstance(WaitTimeout(), AssertionError)  # a failed test, in pytest's words


def test_wait_until_ignores_only_the_errors_it_is_told() -> None:
    calls = []

    def flaky() -> bool:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("not yet")
        return True

    assert wait_until(flaky, "a connection", 5, interval=0, ignore=(OSError,))
    with pytest.raises(ZeroDivisionError):
        wait_until(lambda: 1 / 0, "a division", 5, ignore=(OSError,))
    with pytest.raises(WaitTimeout) as failure:
        wait_until(lambda: (_ for _ in ()).throw(ConnectionError("down")), "it", 0.05,
                   interval=0.01, ignore=(OSError,))
    assert isinstance(failure.value.__cause__, ConnectionError)


async def test_wait_until_async_awaits_coroutine_checks() -> None:
    calls = []

    async def check() -> int:
        calls.append(1)
        return len(calls) >= 3 and len(calls)

    assert await wait_until_async(check, "three calls", 5, interval=0) == 3
    assert await wait_until_async(lambda: "plain", "a plain check", 5) == "plain"
    with pytest.raises(WaitTimeout, match="never"):
        await wait_until_async(lambda: False, "never", 0.05, interval=0.01)


def test_wait_started_fails_at_once_when_the_process_exits() -> None:
    process = subprocess.Popen([sys.executable, "-c", "print('bye'); raise SystemExit(3)"])
    process.wait()
    with pytest.raises(RuntimeError, match=r"the thing exited with 3:\nits log"):
        wait_started(process, lambda: False, "the thing", 30, log=lambda: "its log")


def test_wait_started_stops_a_process_that_never_gets_ready() -> None:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with pytest.raises(RuntimeError, match="the sleeper did not start within 0.2 s"):
            wait_started(process, lambda: False, "the sleeper", 0.2, interval=0.05)
        assert process.poll() is not None  # killed, not left running
    finally:
        process.kill()
        process.wait()
