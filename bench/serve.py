"""Start an `axle` server process for a benchmark and learn where it serves.

Every benchmark starts `axle up` (or `axle sim palette`) on port 0, reads its output until the
line that names the URL, and must then keep reading: a process whose output pipe fills up
blocks. One function does that for all of them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

HUB_URL = r"hub serving on (\S+)"
SIM_URL = r"Palette simulator serving on (\S+)"


def start_axle(
    args: Sequence[str],
    *,
    until: str,
    also: Sequence[str] = (),
    timeout: float = 120.0,
    log: Path | None = None,
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Run `axle ARGS` and read its output until a line matches `until` (a regex with one
    group). Returns the process and the first group of `until` and of each `also` pattern met
    by then, keyed by pattern. The rest of the output goes to `log` (or nowhere) from a thread.
    Exits the benchmark when the process ends or `timeout` passes first."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "axle.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    out = proc.stdout
    assert out is not None
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and until not in seen:
        line = out.readline()
        if not line and proc.poll() is not None:
            break
        for pattern in (*also, until):
            if m := re.search(pattern, line):
                seen.setdefault(pattern, m.group(1))
    if until not in seen:
        proc.kill()
        raise SystemExit(f"`axle {' '.join(args[:2])}` did not start")

    def drain() -> None:
        if log is None:
            for _ in out:
                pass
            return
        with log.open("a") as sink:
            for text in out:
                sink.write(text)

    threading.Thread(target=drain, daemon=True).start()
    return proc, seen
