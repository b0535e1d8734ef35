"""Event expiry: Events older than the hub's `event_ttl_seconds` are deleted, as Kubernetes'
API server lets them lapse (its `--event-ttl`, one hour by default).

Events are a record of what happened, not state: every workload leaves a few, and without an
expiry they would only grow (ten thousand workloads leave some thirty thousand). The leader
sweeps them on a timer rather than through a reconciler: a reconciler would need an informer
holding every Event in memory and a pass per Event write, both costs paid all the time for a
clean-up that can run every few minutes. A sweep lists Events a page at a time (so memory
stays one page) and deletes those whose last occurrence (`lastTimestamp`, else `eventTime`,
else the creation time) is older than the TTL. Each delete carries the resourceVersion it was
judged by: an Event repeated meanwhile (its count raised, its time renewed) is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from axle.api.registry import KindInfo
from axle.errors import ApiError, Conflict, NotFound
from axle.store.base import Obj, Store

log = logging.getLogger(__name__)

PAGE = 500
# A sweep runs every tenth of the TTL (an Event outlives it by at most that much), but not
# more often than once a minute nor less often than once an hour.
MIN_INTERVAL = 60.0
MAX_INTERVAL = 3600.0


def last_seen(event: Obj) -> datetime | None:
    """When the Event last happened: its `lastTimestamp`, `eventTime` or creation time."""
    for value in (
        event.get("lastTimestamp"),
        event.get("eventTime"),
        (event.get("metadata") or {}).get("creationTimestamp"),
    ):
        if isinstance(value, str) and value:
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


class EventExpiry:
    """Deletes Events whose last occurrence is older than `ttl` seconds."""

    def __init__(
        self,
        store: Store,
        info: KindInfo,
        ttl: float,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.info = info
        self.ttl = ttl
        self.clock = clock
        self.deleted = 0  # over this object's life, for logs and tests

    @property
    def interval(self) -> float:
        return min(MAX_INTERVAL, max(MIN_INTERVAL, self.ttl / 10))

    async def sweep(self) -> int:
        """Delete every expired Event once; returns how many went."""
        now = self.clock()
        # The expired ones are collected first and deleted after the last page: deleting
        # while paging would shift later pages under a store that pages by position.
        expired: list[tuple[str | None, str, str | None, str | None]] = []
        token: str | None = None
        while True:
            page = await self.store.list(self.info, limit=PAGE, continue_token=token)
            for event in page.items:
                seen = last_seen(event)
                if seen is None or (now - seen).total_seconds() < self.ttl:
                    continue
                m = event["metadata"]
                expired.append(
                    (m.get("namespace"), m["name"], m.get("uid"), m.get("resourceVersion"))
                )
            token = page.continue_token
            if not token:
                break
        gone = 0
        for namespace, name, uid, version in expired:
            with contextlib.suppress(NotFound, Conflict):
                await self.store.delete(
                    self.info, namespace, name, uid=uid, resource_version=version
                )
                gone += 1
        self.deleted += gone
        return gone

    async def run(self) -> None:
        """Sweep now and then every `interval` seconds until cancelled; a failed sweep is
        logged and the next one tries again."""
        while True:
            try:
                gone = await self.sweep()
            except (ApiError, OSError) as exc:
                log.warning("event expiry: sweep failed: %s", exc)
            else:
                if gone:
                    log.info("event expiry: %d Events older than %.0f s deleted", gone, self.ttl)
            await asyncio.sleep(self.interval)
