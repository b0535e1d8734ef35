"""The Namespace reconciler: `status.phase`, and deleting a namespace deletes what is in it.

Kubernetes keeps a namespace with `spec.finalizers: ["kubernetes"]` while its namespace
controller empties it. axle's store knows only metadata finalizers (the ones that hold back
removal), so this reconciler uses a metadata finalizer, `axle.dev/namespace-lifecycle`,
added to every live namespace. On deletion it sets phase Terminating, deletes every
namespaced object in the namespace, of every kind in the registry, and removes the finalizer
once nothing is left. Objects that hold finalizers of their own (a Project being cleaned up,
say) keep the namespace Terminating, with a `NamespaceContentRemaining` condition naming
them, and the reconciler looks again after `poll_seconds`: it has no informers on every kind,
so it polls rather than watches while waiting.

A namespace created and deleted before this controller first sees it never gets the
finalizer; its contents are then left behind, as they would be in Kubernetes without its
namespace controller. The server can close that window by defaulting the finalizer at
admission.
"""

from __future__ import annotations

import contextlib
import copy

from axle.api.core import NAMESPACE_FINALIZER
from axle.api.meta import set_condition
from axle.api.registry import KindInfo
from axle.controllers.controller import Reconciler
from axle.controllers.objects import is_deleting, write_status
from axle.controllers.tenancy import status_copy
from axle.errors import NotFound


class NamespaceReconciler(Reconciler):
    name = "namespace"
    poll_seconds = 1.0

    @property
    def kind(self) -> KindInfo:
        return self.kinds.namespace

    async def reconcile(self, key: str) -> float | None:
        ns = self.cached(key)
        if ns is None:
            return None
        finalizers = list(ns["metadata"].get("finalizers") or [])
        status = status_copy(ns)
        if not is_deleting(ns):
            if NAMESPACE_FINALIZER not in finalizers:
                body = copy.deepcopy(ns)
                body["metadata"]["finalizers"] = [*finalizers, NAMESPACE_FINALIZER]
                ns = await self.store.update(self.kind, body)
            status["phase"] = "Active"
            if not status["conditions"]:
                status.pop("conditions")
            await write_status(self.store, self.kind, ns, status)
            return None
        if NAMESPACE_FINALIZER not in finalizers:
            return None
        status["phase"] = "Terminating"
        ns = await write_status(self.store, self.kind, ns, status)
        remaining = await self._delete_contents(key)
        if remaining:
            shown = ", ".join(remaining[:10]) + (" ..." if len(remaining) > 10 else "")
            set_condition(
                status["conditions"],
                "NamespaceContentRemaining",
                "True",
                "SomeResourcesRemain",
                f"{len(remaining)} object(s) waiting for their finalizers: {shown}",
            )
            await write_status(self.store, self.kind, ns, status)
            return self.poll_seconds
        body = copy.deepcopy(ns)
        body["metadata"]["finalizers"] = [f for f in finalizers if f != NAMESPACE_FINALIZER]
        await self.store.update(self.kind, body)
        return None

    async def _delete_contents(self, namespace: str) -> list[str]:
        """Delete every object in the namespace; return those still present afterwards."""
        kinds = [i for i in self.kinds.registry if i.namespaced and "list" in i.verbs]
        for info in kinds:
            for obj in (await self.store.list(info, namespace)).items:
                if not is_deleting(obj):
                    with contextlib.suppress(NotFound):
                        await self.store.delete(info, namespace, obj["metadata"]["name"])
        # Listed again rather than judged from delete's answers: what is left is what counts.
        remaining: list[str] = []
        for info in kinds:
            for obj in (await self.store.list(info, namespace)).items:
                remaining.append(f"{info.kind}/{obj['metadata']['name']}")
        return remaining
