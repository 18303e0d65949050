"""CPU time and memory of a process and its descendants, read from /proc (Linux).

A relay may be one process (uvicorn, Flask's threaded server: threads count in their process) or
a master with workers (nginx), so every reading sums the process tree.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cpu_seconds", "cpu_times", "memory_kb", "process_tree"]

_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """``pid`` and every live descendant."""
    found = [pid]
    for current in found:
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                found.extend(int(child) for child in children.read_text().split())
            except OSError:
                continue
    return found


def _stat_ticks(pid: int) -> tuple[int, int]:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0, 0
    # The command name (field 2) may hold spaces; fields after it are fixed.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]), int(fields[12])  # utime, stime (fields 14 and 15)


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds used so far by ``pid``'s tree (all threads)."""
    ticks = [_stat_ticks(p) for p in process_tree(pid)]
    return sum(t[0] for t in ticks) / _TICKS, sum(t[1] for t in ticks) / _TICKS


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid``'s tree (all threads)."""
    return sum(cpu_times(pid))


def memory_kb(pid: int, field: str = "VmRSS") -> int:
    """A /proc/<pid>/status memory field (VmRSS now, VmHWM the peak) summed over the tree."""
    total = 0
    for member in process_tree(pid):
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith(field + ":"):
                total += int(line.split()[1])
    return total
