"""A work queue of object keys: at most one reconcile per key at once, repeats coalesced.

Shaped like client-go's workqueue, whose guarantees make reconcilers simple to write:

- a key is in the queue at most once (`dirty`), however many events name it;
- a key being reconciled (`processing`) is not handed out again; events that arrive meanwhile
  mark it dirty, and `done()` puts it back exactly once, so a burst of changes during a
  reconcile becomes one re-run that sees them all;
- `add_after` schedules a key for later (requeue, `TemporaryError(delay)`); only the earliest
  pending time per key is kept, so retries never pile up;
- `backoff(key)` gives the exponential per-key delay (base * 2**failures, capped), reset by
  `forget(key)` after a success.

Timers use the running loop's clock, so a test with a fast-forwarded loop time runs retries
instantly. Single-threaded asyncio: no locks.

Two lanes, like controller-runtime's priority queue: a key reconciled before (a change to an
object in flight, a requeue) is handed out ahead of a key never reconciled, except that every
`NEW_KEY_SHARE`-th hand-out takes a new key when one waits, so neither lane starves. When
thousands of objects arrive at once, a plain FIFO runs every first pass before any second
one: nothing gets through the pipeline until everything has entered it, and the stages after
(renders, spokes) sit idle, then all work at once. Finishing what is started first keeps
every stage busy.
"""

from __future__ import annotations

import asyncio
from collections import deque


class ShutDown(Exception):
    """`get()` on a queue that was shut down."""


# One hand-out in this many goes to a never-reconciled key when one is waiting.
NEW_KEY_SHARE = 2


class WorkQueue:
    def __init__(self, *, backoff_base: float = 0.05, backoff_max: float = 300.0) -> None:
        self._queue: deque[str] = deque()  # keys reconciled before
        self._new: deque[str] = deque()  # keys never reconciled
        self._seen: set[str] = set()
        self._handed = 0
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._timers: dict[str, tuple[float, asyncio.TimerHandle]] = {}
        self._failures: dict[str, int] = {}
        self._wakeup = asyncio.Event()
        self._shut_down = False
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max

    def __len__(self) -> int:
        return len(self._queue) + len(self._new)

    @property
    def processing(self) -> frozenset[str]:
        return frozenset(self._processing)

    def add(self, key: str) -> None:
        if self._shut_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            (self._queue if key in self._seen else self._new).append(key)
            self._wakeup.set()

    def drop(self, key: str) -> None:
        """Forget that `key` was ever reconciled (its object is gone): a later object of that
        name is new again, and the set of known keys does not grow with every object deleted."""
        if key not in self._dirty and key not in self._processing:
            self._seen.discard(key)

    def add_after(self, key: str, delay: float) -> None:
        if self._shut_down:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        pending = self._timers.get(key)
        if pending is not None:
            if pending[0] <= when:
                return
            pending[1].cancel()
        handle = loop.call_at(when, self._fire, key)
        self._timers[key] = (when, handle)

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def get(self) -> str:
        """The next key to reconcile; the caller must call `done(key)` when finished."""
        while not self._queue and not self._new:
            if self._shut_down:
                raise ShutDown
            self._wakeup.clear()
            await self._wakeup.wait()
        self._handed += 1
        take_new = self._new and (not self._queue or self._handed % NEW_KEY_SHARE == 0)
        key = self._new.popleft() if take_new else self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        self._seen.add(key)
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self._dirty and not self._shut_down:
            self._queue.append(key)  # reconciled just now: known
            self._wakeup.set()

    def scheduled(self, key: str) -> bool:
        """Whether `key` has a delayed add pending."""
        return key in self._timers

    def idle(self) -> bool:
        """Nothing queued, nothing processing, nothing scheduled."""
        return not self._queue and not self._new and not self._processing and not self._timers

    def backoff(self, key: str) -> float:
        """Record one more failure of `key` and return how long to wait before the retry."""
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        return float(min(self.backoff_base * (2**n), self.backoff_max))

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def shut_down(self) -> None:
        self._shut_down = True
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._wakeup.set()
