"""Time for the simulator: a callable returning epoch seconds, replaceable in tests.

Every time-based transition (Pending -> Provisioning -> Running, Deleting -> Deleted) is
computed from timestamps stored with the cluster and the clock's current reading, never from
how long a background task has slept. So a test advances a `ManualClock` instead of sleeping,
and a simulator restarted mid-provisioning resumes where the wall clock says it should be.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]


def system_clock() -> float:
    return time.time()


class ManualClock:
    """A clock that moves only when told to (tests, benchmarks)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self.now += seconds
