"""The agent's state files: written atomically with mode 0600, off the event loop, in batches.

The state dir holds the credential, each Work's inventory, the namespace book and the artifact
cache. Writes leave the event loop (a rename stalled by a busy disk must not stall every
agent of a host), and a Work's pass waits for its inventory to be on disk before it applies
anything, so the record precedes the objects. A host applying thousands of Works writes
three small files per new Work; handing each to a thread pool of its own (`to_thread`: an
executor submission, a thread woken, a completion posted back through the loop's self-pipe)
cost as much CPU as the writes. `write_file` queues instead: one writer thread takes every
write queued meanwhile, does them, and wakes their waiters with one call per event loop.
At interpreter exit the writes already queued are finished first (`atexit`), as a thread
pool's would be.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
from collections.abc import Sequence
from pathlib import Path

from axle.utils.files import replace_file

Job = tuple[Path, bytes, asyncio.Future[None]]


def write_private(path: Path, data: str | bytes) -> None:
    """Write `data` atomically with mode 0600 (the state dir holds credentials)."""
    replace_file(path, data, 0o600)


class _Writer:
    """One daemon thread writing queued files; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wanted = threading.Condition(self._lock)
        self._drained = threading.Condition(self._lock)
        self._queue: list[Job] = []
        self._busy = False  # a batch is being written
        self._thread: threading.Thread | None = None

    def submit(self, path: Path, data: bytes, done: asyncio.Future[None]) -> None:
        with self._lock:
            self._queue.append((path, data, done))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="axle-state-writer", daemon=True
                )
                self._thread.start()
            self._wanted.notify()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every write queued so far is done (at exit: the thread is a daemon,
        which the interpreter would stop mid-write); False if `timeout` passed first."""
        with self._lock:
            return self._drained.wait_for(lambda: not self._queue and not self._busy, timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                self._busy = False
                self._drained.notify_all()
                while not self._queue:
                    self._wanted.wait()
                batch, self._queue = self._queue, []
                self._busy = True
            outcomes: dict[asyncio.AbstractEventLoop, list[tuple[Job, BaseException | None]]] = {}
            for job in batch:
                error: BaseException | None = None
                try:
                    write_private(job[0], job[1])
                except Exception as exc:  # the waiter gets it, as from `to_thread`
                    error = exc
                outcomes.setdefault(job[2].get_loop(), []).append((job, error))
            for loop, results in outcomes.items():
                # A closed loop (RuntimeError) has nobody waiting any more.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_settle, results)


def _settle(results: Sequence[tuple[Job, BaseException | None]]) -> None:
    for (_, _, done), error in results:
        if done.done():
            continue  # the waiter was cancelled
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


_WRITER = _Writer()
atexit.register(_WRITER.drain)


async def write_file(path: Path, data: str | bytes) -> None:
    """`write_private(path, data)` on the writer thread; returns once the file is in place."""
    done = asyncio.get_running_loop().create_future()
    _WRITER.submit(path, data.encode() if isinstance(data, str) else data, done)
    await done
