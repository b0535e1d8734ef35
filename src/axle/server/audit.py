"""The audit log: one JSON line per API request, saying who did what to which object.

Each line is::

    {"time": "2026-11-27T06:50:45.123Z", "user": "alice", "groups": ["team-a"],
     "verb": "create", "group": "axle.dev", "resource": "projects", "subresource": null,
     "namespace": "team-a", "name": "p1", "code": 201}

`user` is null (and `groups` empty) for a request that failed authentication. Request and
response bodies are never logged: they carry Secrets.

Why shaped so: `record()` runs on every request (the API target is >= 500 creates/s), so it only
serialises the line (orjson) and appends it to an in-memory buffer under a lock; a daemon thread
writes and flushes the buffer every `flush_interval` seconds (0.2 by default), so a line is
on disk promptly without a write system call per request. `flush()` forces it; `close()` stops
the thread after a final flush. The file is opened for append with mode 0600, and an existing
file is tightened to 0600, since it names users and objects.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from axle.server.auth import UserInfo

log = logging.getLogger(__name__)

DEFAULT_FLUSH_INTERVAL = 0.2


def _rfc3339_ms(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class AuditLog:
    def __init__(self, path: Path, *, flush_interval: float = DEFAULT_FLUSH_INTERVAL) -> None:
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(self._fd, 0o600)
        self._lock = threading.Lock()
        # Serialises writes to the file (flusher thread vs. flush()/close() callers) without
        # holding `_lock`, so record() never waits for the disk.
        self._write_lock = threading.Lock()
        self._buffer: list[bytes] = []
        self._closed = False
        self._interval = flush_interval
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="axle-audit-flush", daemon=True)
        self._thread.start()

    @property
    def path(self) -> Path:
        return self._path

    def record(
        self,
        user: UserInfo | None,
        verb: str,
        resource: str,
        namespace: str | None,
        name: str | None,
        code: int,
        *,
        group: str = "",
        subresource: str | None = None,
    ) -> None:
        """Append one request's line (never its body); written within `flush_interval`."""
        entry: dict[str, Any] = {
            "time": _rfc3339_ms(datetime.now(UTC)),
            "user": user.name if user is not None else None,
            "groups": list(user.groups) if user is not None else [],
            "verb": verb,
            "group": group,
            "resource": resource,
            "subresource": subresource,
            "namespace": namespace,
            "name": name,
            "code": code,
        }
        line = orjson.dumps(entry) + b"\n"
        with self._lock:
            if self._closed:
                raise RuntimeError("audit log is closed")
            self._buffer.append(line)

    def flush(self) -> None:
        """Write every recorded line to the file now."""
        with self._write_lock:
            with self._lock:
                lines, self._buffer = self._buffer, []
            if lines and self._fd >= 0:
                data = b"".join(lines)
                while data:
                    written = os.write(self._fd, data)
                    data = data[written:]

    def close(self) -> None:
        """Flush and close the file; later `record()` calls raise."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake.set()
        self._thread.join()
        self.flush()
        with self._write_lock:
            os.close(self._fd)
            self._fd = -1

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            try:
                self.flush()
            except OSError as exc:
                # A full disk must not kill the flusher: say so, and keep auditing what can
                # be written; close() raises if the error persists.
                log.error("audit log %s: write failed: %s", self._path, exc)

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
