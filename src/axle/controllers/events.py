"""Records core v1 Events about objects, so `axle describe` and `kubectl describe` show them.

An Event is written in the object's namespace (`default` for cluster-scoped objects, as
Kubernetes does) with the fields `kubectl describe` reads: involvedObject, reason, message,
type, count, firstTimestamp, lastTimestamp, source.component. Repeats of the same
(object uid, type, reason, message) are aggregated into one Event whose count grows, as
Kubernetes' event correlator does; the Event's name is derived from that tuple
(`<object>.<hash>`), so aggregation survives a restart of the hub without any in-memory state.
Recording never fails a reconcile: a store error is logged and dropped.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Literal

from axle.api.meta import now_rfc3339
from axle.api.registry import KindInfo
from axle.errors import AlreadyExists, ApiError, Conflict, NotFound
from axle.store.base import Obj, Store

log = logging.getLogger(__name__)

COMPONENT = "axle-controller-manager"
EventKind = Literal["Normal", "Warning"]


class EventRecorder:
    def __init__(self, store: Store, info: KindInfo, *, instance: str = "") -> None:
        self.store = store
        self.info = info
        self.instance = instance

    async def normal(self, obj: Obj, reason: str, message: str) -> None:
        await self.record(obj, "Normal", reason, message)

    async def warning(self, obj: Obj, reason: str, message: str) -> None:
        await self.record(obj, "Warning", reason, message)

    async def record(self, obj: Obj, type_: EventKind, reason: str, message: str) -> None:
        try:
            await self._record(obj, type_, reason, message)
        except ApiError as exc:
            log.warning("could not record event %s on %s: %s", reason, _describe(obj), exc)

    async def _record(self, obj: Obj, type_: EventKind, reason: str, message: str) -> None:
        m = obj["metadata"]
        namespace = m.get("namespace") or "default"
        digest = hashlib.sha256(
            "\0".join((m.get("uid", ""), type_, reason, message)).encode()
        ).hexdigest()[:16]
        name = f"{m['name']}.{digest}"
        now = now_rfc3339()
        event: Obj = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion", ""),
                "kind": obj.get("kind", ""),
                "name": m["name"],
                "namespace": m.get("namespace") or "",
                "uid": m.get("uid", ""),
                "resourceVersion": m.get("resourceVersion", ""),
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self.instance,
        }
        # Create first: most events are new, and a create that finds the name taken costs what
        # a read would have; only a repeat pays for the read and the update.
        for _ in range(3):
            try:
                await self.store.create(self.info, event)
                return
            except AlreadyExists:
                pass
            try:
                existing = await self.store.get(self.info, namespace, name)
            except NotFound:
                continue
            existing["count"] = int(existing.get("count") or 1) + 1
            existing["lastTimestamp"] = now
            try:
                await self.store.update(self.info, existing)
                return
            except Conflict:
                continue


def _describe(obj: Obj) -> str:
    m = obj.get("metadata") or {}
    return f"{obj.get('kind')} {m.get('namespace', '')}/{m.get('name')}"
