"""Process figures the benchmarks print, read from /proc: a process tree, CPU seconds, memory.

Shared by bench/pools.py and bench/fleet.py (run as scripts, so `bench/` is on sys.path).
"""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def proc_tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        # A child is listed under the thread that started it, not always the main one.
        try:
            tasks = list(Path(f"/proc/{p}/task").iterdir())
        except OSError:
            tasks = []
        for task in tasks:
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
    return out


def stat_fields(pid: int) -> list[str]:
    # The command name may hold spaces or parentheses: split after its closing one.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def system_seconds(pid: int) -> float:
    """The part of `cpu_seconds` spent in the kernel (system calls: sockets, files, fsync)."""
    return int(stat_fields(pid)[12]) / TICKS  # stime


def reaped_children_cpu(pid: int) -> float:
    """CPU seconds of children `pid` has already waited for (short-lived workers)."""
    fields = stat_fields(pid)
    return (int(fields[13]) + int(fields[14])) / TICKS  # cutime + cstime


def memory_mib(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process, in MiB."""
    rss = hwm = float("nan")
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    return rss, hwm


def describe(pid: int, hub: int) -> str:
    if pid == hub:
        return "hub"
    cmd = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    for word, name in (
        ("sim palette", "palette simulator"),
        ("spoke-agent", "spoke agent host"),
        ("multiprocessing", "render pool process"),
        ("render", "render worker"),
    ):
        if word in cmd:
            return name
    return cmd[:40]
