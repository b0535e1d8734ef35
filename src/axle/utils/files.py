"""Small state files written atomically: a temporary file in the same directory renamed over
the target, so a reader (or a process restarted after a crash) sees the old content or the new,
never half of either.

Used for the spoke agent's state (credential, inventories, namespace book, artifact cache)
and the simulated clusters' state. Both write often, so the temporary name is per process and
thread rather than `mkstemp`'s random one (a random name retried on collision, plus a `mkdir`
per write, were a tenth of a busy agent host's CPU): one process owns each state directory
and its writers are its threads, so the name cannot collide. No fsync: these files are
rebuilt or re-derived after a power loss (see the callers' docs), and an fsync per write would
be most of the cost.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def replace_file(path: Path, data: str | bytes, mode: int = 0o600) -> None:
    """Write `data` to `path` atomically, the file getting `mode` (default owner-only: state
    dirs hold credentials); the directory is made if missing."""
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.parent / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(tmp, flags, mode)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, flags, mode)
    try:
        try:
            os.fchmod(fd, mode)  # a leftover temporary file of that name may have another mode
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
