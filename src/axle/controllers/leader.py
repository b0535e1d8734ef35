"""Leader election on a `coordination.k8s.io/v1` Lease, so two hubs never both reconcile.

The algorithm is client-go's leaderelection, on the store's compare-and-swap:

- every `retry_period` a candidate reads the Lease (`axle-system/axle-hub-leader`). If it holds
  it, it renews `renewTime`; if the holder is empty (released) or the record has not changed
  for `leaseDurationSeconds` as measured on the candidate's own monotonic clock, it takes it
  over (`holderIdentity`, `acquireTime`, `leaseTransitions + 1`). Every write carries the
  resourceVersion it read, so of two candidates racing for an expired lease exactly one wins
  and the other gets `Conflict`.
- expiry is judged from when this process last *saw the record change*, never from the
  `renewTime` written by another host, so clock skew between hosts cannot hand the lease over
  early (the cost: a newly started follower waits one full lease before taking over from a
  crashed leader).
- a leader that has not renewed successfully for `renew_deadline` (shorter than the lease)
  stops leading at once, before any follower can consider the lease expired: the two
  never reconcile at the same time.
- `release()` on a clean stop empties `holderIdentity`, so a restarted hub (or another
  replica) takes over immediately instead of waiting out the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from axle.api.meta import SYSTEM_NAMESPACE
from axle.api.registry import KindInfo
from axle.errors import AlreadyExists, ApiError, Conflict, NotFound
from axle.store.base import Obj, Store

log = logging.getLogger(__name__)

LEASE_NAME = "axle-hub-leader"
Callback = Callable[[], Awaitable[None]]


def micro_time() -> str:
    """Kubernetes MicroTime: RFC 3339 with microseconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        store: Store,
        lease_info: KindInfo,
        identity: str,
        *,
        lease_seconds: float,
        on_started: Callback,
        on_stopped: Callback,
        renew_deadline: float | None = None,
        retry_period: float | None = None,
        namespace: str = SYSTEM_NAMESPACE,
        name: str = LEASE_NAME,
    ) -> None:
        self.store = store
        self.info = lease_info
        self.identity = identity
        self.lease_seconds = lease_seconds
        # client-go's defaults are 15 s / 10 s / 2 s; keep the same proportions.
        self.renew_deadline = renew_deadline or lease_seconds * 2 / 3
        self.retry_period = retry_period or lease_seconds / 7.5
        self.namespace = namespace
        self.name = name
        self.on_started = on_started
        self.on_stopped = on_stopped
        self.is_leader = False
        self._observed: tuple[str, str] | None = None
        self._observed_at = 0.0
        self._last_renew = 0.0
        self.attempts = 0  # acquire/renew rounds run, for observability and tests

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    ok = await asyncio.wait_for(self._try_acquire_or_renew(), self.renew_deadline)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # Whatever the failure (timeout, store error, a bug), it is one failed
                    # renewal: the deadline check below decides whether to step down.
                    log.warning("lease %s: attempt failed: %r", self.name, exc)
                    ok = False
                self.attempts += 1
                now = loop.time()
                if ok:
                    self._last_renew = now
                    if not self.is_leader:
                        self.is_leader = True
                        log.info("%s became the leader", self.identity)
                        await self.on_started()
                elif self.is_leader and (
                    self._held_by_other() or now - self._last_renew >= self.renew_deadline
                ):
                    await self._step_down("could not renew the lease")
                await asyncio.sleep(self.retry_period)
        finally:
            if self.is_leader:
                await self._step_down("stopping")

    def _held_by_other(self) -> bool:
        return self._observed is not None and self._observed[0] not in ("", self.identity)

    async def _step_down(self, why: str) -> None:
        self.is_leader = False
        log.warning("%s stops leading: %s", self.identity, why)
        await self.on_stopped()

    def _spec(self, previous: dict[str, object] | None) -> dict[str, object]:
        now = micro_time()
        prev = previous or {}
        mine = prev.get("holderIdentity") == self.identity
        transitions = prev.get("leaseTransitions")
        count = int(transitions) if isinstance(transitions, int) else 0
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, math.ceil(self.lease_seconds)),
            "acquireTime": prev.get("acquireTime") if mine else now,
            "renewTime": now,
            "leaseTransitions": count if mine or previous is None else count + 1,
        }

    async def _try_acquire_or_renew(self) -> bool:
        loop = asyncio.get_running_loop()
        try:
            lease = await self.store.get(self.info, self.namespace, self.name)
        except NotFound:
            body: Obj = {
                "apiVersion": self.info.api_version,
                "kind": self.info.kind,
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(None),
            }
            try:
                created = await self.store.create(self.info, body)
            except AlreadyExists:
                return False
            self._observe(created, loop.time())
            return True
        spec = lease.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        now = loop.time()
        self._observe(lease, now)
        if holder and holder != self.identity:
            duration = float(spec.get("leaseDurationSeconds") or self.lease_seconds)
            if now - self._observed_at < duration:
                return False
        updated = copy.deepcopy(lease)
        updated["spec"] = self._spec(spec)
        try:
            written = await self.store.update(self.info, updated)
        except Conflict:
            return False
        self._observe(written, loop.time())
        return True

    def _observe(self, lease: Obj, now: float) -> None:
        record = (
            str((lease.get("spec") or {}).get("holderIdentity") or ""),
            str(lease["metadata"].get("resourceVersion")),
        )
        if record != self._observed:
            self._observed = record
            self._observed_at = now

    async def release(self) -> None:
        """Give the lease up (if held) so that another candidate need not wait for expiry."""
        with contextlib.suppress(ApiError):
            lease = await self.store.get(self.info, self.namespace, self.name)
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.identity:
                return
            updated = copy.deepcopy(lease)
            updated["spec"] = {
                **spec,
                "holderIdentity": "",
                "leaseDurationSeconds": 1,
                "renewTime": micro_time(),
            }
            await self.store.update(self.info, updated)
