"""A server the tests and benchmarks run as a foreground subprocess (nginx, varnishd):
stopping it, using it as a context manager, and its CPU time (the process and its
children: nginx's workers, varnishd's cache process)."""

from __future__ import annotations

import signal
import subprocess
from types import TracebackType
from typing import Self

from townhall.testing import cpu

STOP_TIMEOUT = 10.0


class ForegroundServer:
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        """SIGTERM (a fast shutdown; children exit with it), then SIGKILL if need be."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def pids(self) -> list[int]:
        """The main process's pid and its children's."""
        if self.process is None or self.process.poll() is not None:
            return []
        return [self.process.pid, *cpu.child_pids(self.process.pid)]

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the process and its current children."""
        return cpu.processes_seconds(self.pids())
