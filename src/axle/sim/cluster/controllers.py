"""The simulated control plane: every controller, run in passes until the cluster settles.

`Controllers.reconcile` runs one pass of every controller (garbage collection, namespaces,
workloads, claims, the scheduler, the kubelet, services, other kinds) and repeats while a
pass changed something, so after it returns the cluster is as far along as the clock allows:
with zero latencies, a Deployment applied is Running and Available when `apply` returns.
The order within a pass follows the dependency chain (owners before the objects they make,
the scheduler before the kubelet), which keeps the number of passes small; correctness does
not depend on it because the passes repeat.

Kinds no simulated controller runs (a `HelmRelease`, any CRD instance) are stored and marked
ready the way a healthy controller would leave them: `status.observedGeneration` and a
`Ready=True` condition (reason `ReconciliationSucceeded`) that follows the generation. A
CustomResourceDefinition is `Established` with its names accepted. Built-in kinds without a
controller here (ConfigMap, Secret, ServiceAccount, RBAC, ...) are stored as they are.
"""

from __future__ import annotations

import math
import random

from axle.sim.cluster import network, pods, storage, workloads
from axle.sim.cluster.kinds import key_of
from axle.sim.cluster.objects import ObjectStore, clone, parse_time
from axle.sim.cluster.runtime import Ctx, Obj, Timings, is_builtin, set_condition

MAX_PASSES = 100
EVENT_TTL = 3600.0


def collect_garbage(ctx: Ctx) -> None:
    """Remove objects all of whose owners are gone (background propagation)."""
    while True:
        uids = set(ctx.store.by_uid())
        orphans = [
            o
            for o in ctx.store
            if (refs := o["metadata"].get("ownerReferences"))
            and not any(r.get("uid") in uids for r in refs)
        ]
        if not orphans:
            return
        for o in orphans:
            ctx.store.remove(key_of(o))


def expire_events(ctx: Ctx) -> None:
    """Drop Events about objects that are gone, an hour after their last occurrence (the API
    server's event TTL), so a long-lived cluster does not accumulate them forever."""
    uids = set(ctx.store.by_uid())
    for ev in ctx.store.of_kind("", "Event"):
        if (ev.get("involvedObject") or {}).get("uid") in uids:
            continue
        last = parse_time(str(ev.get("lastTimestamp") or ev["metadata"]["creationTimestamp"]))
        if ctx.due(last + EVENT_TTL):
            ctx.store.remove(key_of(ev))


def namespaces(ctx: Ctx) -> None:
    for ns in ctx.store.of_kind("", "Namespace"):
        if (ns.get("status") or {}).get("phase") != "Active":
            new = clone(ns)
            new["status"] = {"phase": "Active"}
            new.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            labels = new["metadata"].setdefault("labels", {})
            labels.setdefault("kubernetes.io/metadata.name", ns["metadata"]["name"])
            ctx.store.write(new)


def _mark_ready(ctx: Ctx, obj: Obj) -> None:
    generation = obj["metadata"].get("generation", 1)
    status = dict(obj.get("status") or {})
    conds = status.get("conditions") or []
    stamp = ctx.stamp()
    if obj["kind"] == "CustomResourceDefinition":
        conds = set_condition(
            conds, "NamesAccepted", "True", "NoConflicts", "no conflicts found", stamp
        )
        conds = set_condition(
            conds,
            "Established",
            "True",
            "InitialNamesAccepted",
            "the initial names have been accepted",
            stamp,
        )
        status["acceptedNames"] = clone((obj.get("spec") or {}).get("names") or {})
        status["storedVersions"] = [
            v.get("name") for v in (obj.get("spec") or {}).get("versions") or [] if v.get("storage")
        ]
    else:
        conds = set_condition(
            conds,
            "Ready",
            "True",
            "ReconciliationSucceeded",
            f"{obj['kind']} reconciled (simulated: no controller runs this kind)",
            stamp,
            extra={"observedGeneration": generation},
        )
        status["observedGeneration"] = generation
    status["conditions"] = conds
    new = clone(obj)
    new["status"] = status
    ctx.store.write(new)


def other_kinds(ctx: Ctx) -> None:
    for obj in ctx.store:
        if obj["kind"] == "CustomResourceDefinition" or not is_builtin(obj):
            _mark_ready(ctx, obj)


class Controllers:
    def __init__(
        self, store: ObjectStore, timings: Timings, kubernetes_version: str, lb_pool: str
    ) -> None:
        self.ctx = Ctx(store, timings, kubernetes_version, lb_pool, random.Random())

    def admit(self, obj: Obj, old: Obj | None) -> None:
        """What the API server fills in before storing (allocations, defaults); `old` is the
        stored version an update replaces."""
        if obj.get("kind") == "Service" and obj.get("apiVersion") == "v1":
            network.admit_service(self.ctx, obj, old)

    @property
    def next_due(self) -> float:
        """When a timer the last `reconcile` saw comes due (infinity: none pending)."""
        return self.ctx.next_due

    def reconcile(self) -> None:
        store = self.ctx.store
        for _ in range(MAX_PASSES):
            self.ctx.next_due = math.inf
            before = store.revision
            collect_garbage(self.ctx)
            expire_events(self.ctx)
            storage.release_volumes(self.ctx)
            namespaces(self.ctx)
            workloads.cronjobs(self.ctx)
            workloads.jobs(self.ctx)
            workloads.deployments(self.ctx)
            workloads.replicasets(self.ctx)
            workloads.statefulsets(self.ctx)
            workloads.daemonsets(self.ctx)
            storage.claims(self.ctx)
            pods.schedule_pending(self.ctx)
            pods.run_pods(self.ctx)
            network.services(self.ctx)
            network.ingresses(self.ctx)
            other_kinds(self.ctx)
            if store.revision == before:
                return
