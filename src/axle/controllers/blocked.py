"""`Blocked`: how a reconcile pass that cannot go on says why, for the reconcilers that keep
one condition per prerequisite (ComputePool, AIWorkload).

Raised where the missing thing is found (hosts, quota, a bundle, a pool), caught once at the
top of the pass, which writes the named condition with its reason and message, puts the object
in `phase`, and requeues after `delay` (or waits for a watched change). One exception type
instead of a result code threaded through every step keeps each step a plain function.
"""

from __future__ import annotations

from axle.api.meta import ConditionStatus


class Blocked(Exception):
    """The pass stops here: `condition` says why, the object waits in `phase`."""

    def __init__(
        self,
        condition: str,
        reason: str,
        message: str,
        *,
        phase: str = "Pending",
        delay: float | None = None,
        status: ConditionStatus = "False",
    ) -> None:
        super().__init__(message)
        self.condition = condition
        self.reason = reason
        self.message = message
        self.phase = phase
        self.delay = delay
        self.status = status
