"""`axle up --palette-sim`: the Palette simulator as a companion process of the embedded hub.

The embedded default runs machines and clusters against the Palette simulator (DESIGN
section 2). It runs as its own process, exactly as `axle sim palette` runs it, because the
hub must only ever reach Palette over HTTP through the real client: nothing is shortcut
in-process. Its state file lives in the hub's data dir, so a restarted `axle up` finds its
simulated clusters again. The process is stopped when the hub stops.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

URL_RE = re.compile(r"serving on (https?://[0-9.]+:[0-9]+)")
START_TIMEOUT = 20.0
STATE_FILE = "palette-sim.json"
PR_SET_PDEATHSIG = 1


class SimulatorFailed(RuntimeError):
    """The simulator process did not start; the message holds what it printed."""


@contextlib.contextmanager
def palette_simulator(
    inventory: Path, port: int, data_dir: Path, *, provisioning_seconds: float | None = None
) -> Iterator[str]:
    """Run `axle sim palette` for the duration of the block; yields its URL."""
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "axle.cli.main",
        "sim",
        "palette",
        "--inventory",
        str(inventory),
        "--port",
        str(port),
        "--state-file",
        str(data_dir / STATE_FILE),
    ]
    if provisioning_seconds is not None:
        cmd += ["--provisioning-seconds", str(provisioning_seconds)]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # Its own process group: Ctrl-C in the terminal reaches the hub, which stops it in
        # order, instead of killing the simulator under a hub that still talks to it.
        start_new_session=True,
        # ... and if the hub dies without stopping it (SIGKILL), the kernel ends it too, so a
        # restarted hub never finds a second simulator on the same state file.
        preexec_fn=_die_with_parent,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    url = ""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = URL_RE.search(line)
        if match:
            url = match.group(1)
            break
    if not url:
        _stop(proc)
        raise SimulatorFailed("".join(lines).strip() or "the Palette simulator exited")
    threading.Thread(target=_forward, args=(proc,), daemon=True).start()
    try:
        yield url
    finally:
        _stop(proc)


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent process dies (Linux prctl)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _forward(proc: subprocess.Popen[str]) -> None:
    """Pass what the simulator logs to the hub's stderr, prefixed, so nothing is hidden."""
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stderr.write(f"palette-sim: {line}")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
