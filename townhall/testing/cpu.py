"""CPU time of processes and of the machine, for the benchmarks' figures, through psutil
(one reader for Linux's /proc instead of a copy in every benchmark).

Every figure is a counter in CPU-seconds: read it before and after a window and divide
the difference by the window's wall-clock seconds (1.0 = one core busy).
"""

from __future__ import annotations

from collections.abc import Iterable

import psutil


def process_seconds(pid: int | None = None) -> float:
    """User + system CPU-seconds a process has used so far, all its threads (not its
    children's); this process when `pid` is None, 0.0 when the process is gone."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return times.user + times.system


def processes_seconds(pids: Iterable[int]) -> float:
    """process_seconds summed over `pids` (those gone count 0)."""
    return sum(process_seconds(pid) for pid in pids)


def child_pids(pid: int) -> list[int]:
    """The direct children of a process, in pid order (none when it is gone)."""
    try:
        return sorted(child.pid for child in psutil.Process(pid).children())
    except psutil.NoSuchProcess:
        return []


def machine_busy_seconds() -> float:
    """CPU-seconds all cores together have spent not idle (idle and I/O wait left out)."""
    times = psutil.cpu_times()
    # On Linux `user` and `nice` already include the guest times psutil also lists.
    idle = times.idle + getattr(times, "iowait", 0.0)
    guest = getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
    return sum(times) - idle - guest


def softirq_seconds() -> float:
    """CPU-seconds all cores have spent in interrupts and softirqs (loopback TCP is
    mostly softirq work, charged to no process); 0.0 where the system has no such
    counters."""
    times = psutil.cpu_times()
    return getattr(times, "irq", 0.0) + getattr(times, "softirq", 0.0)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as `uptime` prints them."""
    return " ".join(f"{load:.2f}" for load in psutil.getloadavg())
